"""`mimo-bench perf`: timings as ratios against a baseline measured in the same process.

Cases are interleaved round by round (the order rotates each round), so machine drift hits
every case alike; each figure is the median ratio over rounds with its min-max spread.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from benchmark.config import Suite
from benchmark.registries import PROBLEMS, STRATEGIES
from benchmark.runner import model_config, resolve_device
from benchmark.train import TrainConfig, Trainer, to_device


@dataclass
class Ratio:
    case: str
    seconds: float  # median seconds per unit of the case
    median: float  # median ratio to the baseline over rounds
    low: float
    high: float


def interleaved(cases: dict[str, Callable[[], float]], baseline: str, rounds: int) -> list[Ratio]:
    """Run every case once per round in rotating order; ratios are against ``baseline`` of the same round."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for offset in range(len(names)):
            name = names[(round_index + offset) % len(names)]
            times[name].append(cases[name]())
    ratios = []
    for name in names:
        per_round = [t / b for t, b in zip(times[name], times[baseline], strict=True)]
        ratios.append(
            Ratio(name, statistics.median(times[name]), statistics.median(per_round), min(per_round), max(per_round))
        )
    return ratios


def strategy_step_costs(suite: Suite, steps: int = 20, rounds: int = 7) -> list[Ratio]:
    """Seconds per training step of each of the suite's strategy configurations, vs its first one.

    The first configuration is the baseline (``sum`` in the shipped suites); every configuration
    trains the suite's net on the same in-memory batch of its problem.
    """
    data = PROBLEMS.get(suite.problem)(**suite.problem_options).load(suite.seeds[0])
    config = TrainConfig(
        1, suite.batch_size, suite.optimizer["lr"], seed=suite.seeds[0], device=resolve_device(suite.device)
    )
    batch = data.train.subset(torch.arange(min(suite.batch_size, len(data.train))))
    trainers = {}
    for entry in suite.strategies:
        cls = STRATEGIES.get(entry.name)
        make = functools.partial(_build, cls, entry.params)
        trainers[entry.label] = Trainer(data, model_config(suite), make, config)
        trainers[entry.label].step(to_device(batch, trainers[entry.label].device))  # warm-up

    def timed(trainer: Trainer) -> Callable[[], float]:
        def run() -> float:
            local = to_device(batch, trainer.device)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(steps):
                trainer.step(local)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            return (time.perf_counter() - started) / steps

        return run

    baseline = suite.strategies[0].label
    return interleaved({name: timed(trainer) for name, trainer in trainers.items()}, baseline, rounds)


def _build(cls: type, params: dict, tasks):
    return cls(tasks, **params)


def report(title: str, ratios: list[Ratio], unit: str = "ms/step") -> str:
    lines = [title, f"{'case':<14} {unit:>10} {'ratio':>7} {'spread':>15}"]
    for r in ratios:
        lines.append(f"{r.case:<14} {r.seconds * 1000:>10.2f} {r.median:>7.3f} {f'[{r.low:.3f}, {r.high:.3f}]':>15}")
    return "\n".join(lines)
