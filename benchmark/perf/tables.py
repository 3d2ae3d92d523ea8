"""`mimo-bench perf` output: ratio tables with the spread over rounds and a check against issue 7's targets."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import torch

from benchmark.api.registry import STRATEGIES
from benchmark.perf.gradient import gradient_table
from benchmark.perf.loops import LoopSetup, compare_loops, peak_memory, suite_wall_time
from benchmark.perf.settings import (
    FLOOR,
    HARNESS_VS_FLOOR,
    JOBS_2_VS_1,
    PEAK_MEMORY_GB,
    SEEDS,
    SEEDS_VS_HARNESS,
    TRACKED,
    TRACKING_ON_VS_OFF,
    UNTRACKED,
    Target,
)
from benchmark.perf.timing import Ratio, ratio, strategy_step_costs, timed_rounds
from benchmark.suite.schema import Suite


def table(title: str, rows: list[tuple[Ratio, Target | None]], unit: str, scale: float) -> str:
    """One line per ratio: seconds per unit (median, times ``scale``), ratio, spread, target check."""
    width = max(len(r.case) for r, _ in rows) + 2
    lines = [title, f"{'case':<{width}} {unit:>10} {'ratio':>7} {'spread':>16}  target"]
    for r, target in rows:
        seconds = f"{r.seconds * scale:.2f}" if r.seconds else ""
        spread = f"[{r.low:.3f}, {r.high:.3f}]"
        check = target.check(r.median) if target else ""
        lines.append(f"{r.case:<{width}} {seconds:>10} {r.median:>7.3f} {spread:>16}  {check}".rstrip())
    return "\n".join(lines)


def loops_table(title: str, times: dict[str, list[float]]) -> str:
    """The loops against the floor, then the seeds' loop over mimo-bench's epoch and tracking on over off."""
    rows: list[tuple[Ratio, Target | None]] = [
        (ratio(times, FLOOR, FLOOR), None),
        (ratio(times, SEEDS, FLOOR), None),
        (ratio(times, TRACKED, FLOOR), HARNESS_VS_FLOOR),
        (ratio(times, UNTRACKED, FLOOR), None),
    ]
    speedup = ratio(times, SEEDS, TRACKED)
    tracking = ratio(times, TRACKED, UNTRACKED)
    rows += [
        (
            Ratio("speedup: seeds' loop / mimo-bench epoch", 0.0, speedup.median, speedup.low, speedup.high),
            SEEDS_VS_HARNESS,
        ),
        (Ratio("tracking on / tracking off", 0.0, tracking.median, tracking.low, tracking.high), TRACKING_ON_VS_OFF),
    ]
    return table(title, rows, "s/epoch", 1.0)


def strategies_table(title: str, ratios: list[Ratio], names: dict[str, str]) -> str:
    """Step costs vs the first configuration; ``names`` maps each label to its strategy's registered name."""
    targets = {name: STRATEGIES.get(name).step_cost_target for name in set(names.values())}
    rows = [(r, Target(targets[names[r.case]]) if targets[names[r.case]] else None) for r in ratios]
    return table(title, rows, "ms/step", 1000.0)


def memory_line(suite_name: str, peak_bytes: int) -> str:
    gigabytes = peak_bytes / 1e9
    return (
        f"{suite_name}: peak RSS of one `mimo-bench run` (first strategy and seed, 1 epoch): "
        f"{gigabytes:.2f} GB; target {PEAK_MEMORY_GB.check(gigabytes)}"
    )


def jobs_table(suite: Suite, rounds: int, folder: Path) -> str:
    """Wall time of the suite's strategies x 2 seeds with ``--jobs 2`` vs ``--jobs 1`` (whole suites, twice a round)."""
    seeds = (*suite.seeds, *(s for s in range(max(suite.seeds) + 1, max(suite.seeds) + 3)))[:2]
    variant = replace(suite, seeds=seeds)
    cases = {f"--jobs {jobs}": functools.partial(suite_wall_time, variant, jobs, folder) for jobs in (1, 2)}
    times = timed_rounds(cases, rounds)
    title = (
        f"{suite.name}: wall time of {len(suite.strategies)} strategies x seeds {list(seeds)}, {variant.epochs} "
        f"epochs each: `mimo-bench run` subprocesses, start-up and report included, fresh store "
        f"({rounds} rounds, 1 thread per run)"
    )
    rows = [(ratio(times, "--jobs 1", "--jobs 1"), None), (ratio(times, "--jobs 2", "--jobs 1"), JOBS_2_VS_1)]
    return table(title, rows, "s/suite", 1.0)


def measure(section: str, suite: Suite, rounds: int, steps: int, fraction: float, folder: Path) -> str:
    """Measure one section of `mimo-bench perf` ('loops', 'strategies', 'gradient', 'memory' or 'jobs'); return its table."""
    folder.mkdir()
    if section == "jobs":
        return jobs_table(suite, rounds, folder)
    setting = f"{rounds} rounds, {suite.device}, {torch.get_num_threads()} thread(s)"
    if section == "memory":
        LoopSetup.from_suite(suite)  # fills the data cache first, so the run reads it as any later run does
        return memory_line(suite.name, peak_memory(suite, folder))
    if section == "gradient":
        return gradient_table(suite, rounds, steps, setting)
    if section == "strategies":
        ratios = strategy_step_costs(suite, steps, rounds)
        title = f"{suite.name}: step cost vs {suite.strategies[0].label} ({steps} steps a timing, {setting})"
        return strategies_table(title, ratios, {s.label: s.name for s in suite.strategies})
    setup = LoopSetup.from_suite(suite, fraction)
    times = compare_loops(setup, rounds, folder)
    title = (
        f"{suite.name}: one epoch per case of {len(setup.data.train)} train samples ({setup.batches} batches of "
        f"{setup.batch_size}); mimo-bench's epoch also validates on {len(setup.data.val)} samples ({setting})"
    )
    return loops_table(title, times)
