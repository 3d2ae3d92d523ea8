"""`mimo-bench perf`: timings as ratios against a baseline measured in the same process.

Cases are interleaved round by round (the order rotates each round), so machine drift hits
every case alike; each figure is the median ratio over rounds with its min-max spread.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.run.runner import model_config, resolve_device
from benchmark.search.study import StudyRunner
from benchmark.suite.schema import Suite, load_suite
from benchmark.suite.toml import to_toml
from benchmark.tracking.store import Tracker
from benchmark.train.single_task import restrict
from benchmark.train.trainer import TrainConfig, Trainer, to_device


@dataclass
class Ratio:
    case: str
    seconds: float  # median seconds per unit of the case
    median: float  # median ratio to the baseline over rounds
    low: float
    high: float


def timed_rounds(cases: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every case once per round in rotating order; each case's seconds, round by round."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for offset in range(len(names)):
            name = names[(round_index + offset) % len(names)]
            times[name].append(cases[name]())
    return times


def ratio(times: dict[str, list[float]], case: str, baseline: str) -> Ratio:
    """``case``'s seconds over ``baseline``'s, round by round: the median and the min-max spread."""
    per_round = [t / b for t, b in zip(times[case], times[baseline], strict=True)]
    return Ratio(case, statistics.median(times[case]), statistics.median(per_round), min(per_round), max(per_round))


def interleaved(cases: dict[str, Callable[[], float]], baseline: str, rounds: int) -> list[Ratio]:
    """`timed_rounds`, each case as a ratio to ``baseline`` of the same round."""
    times = timed_rounds(cases, rounds)
    return [ratio(times, name, baseline) for name in cases]


def strategy_step_costs(suite: Suite, steps: int = 20, rounds: int = 7) -> list[Ratio]:
    """Seconds per training step of each of the suite's strategy configurations, vs its first one.

    The first configuration is the baseline (``sum`` in the shipped suites); every configuration
    trains the suite's net on the same in-memory batch of its problem.  A strategy with separate
    nets (``single``) steps each task's net once per step, as it trains.
    """
    makers = {entry.label: (STRATEGIES.get(entry.name), entry.params) for entry in suite.strategies}
    times = step_times(suite, makers, steps, rounds)
    return [ratio(times, name, suite.strategies[0].label) for name in makers]


def step_times(suite: Suite, makers: dict[str, tuple[type, dict]], steps: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per training step of each (strategy class, options) case on the suite's net, round by round.

    Each timing restarts from the state after the warm-up step, so every round times the same steps
    (training on one batch for hundreds of steps would drift into degenerate states).  A case times
    ``steps`` rounded up to whole cycles of its strategy (`Strategy.steps_per_update`), so a method that
    does its costly update every k steps has it in the window once per k steps.
    """
    data = PROBLEMS.get(suite.problem)(**suite.problem_options).load(suite.seeds[0])
    config = TrainConfig(
        1, suite.batch_size, suite.optimizer["lr"], seed=suite.seeds[0], device=resolve_device(suite.device)
    )
    batch = data.train.subset(torch.arange(min(suite.batch_size, len(data.train))))
    trainers: dict[str, list[Trainer]] = {}
    for label, (cls, params) in makers.items():
        make = functools.partial(_build, cls, params)
        views = [restrict(data, task) for task in data.tasks] if cls.separate_nets else [data]
        trainers[label] = [Trainer(view, model_config(suite), make, config) for view in views]
        for trainer in trainers[label]:
            trainer.step(to_device(batch, trainer.device))  # warm-up

    def timed(parts: list[Trainer]) -> Callable[[], float]:
        initial = [copy.deepcopy(trainer.state_dict()) for trainer in parts]
        cycle = max(trainer.strategy.steps_per_update for trainer in parts)
        window = -(-steps // cycle) * cycle

        def run() -> float:
            for trainer, state in zip(parts, initial, strict=True):  # every timing: the same steps from one state
                trainer.load_state_dict(state)
            device = parts[0].device
            local = to_device(batch, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(window):
                for trainer in parts:
                    trainer.step(local)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return (time.perf_counter() - started) / window

        return run

    return timed_rounds({name: timed(parts) for name, parts in trainers.items()}, rounds)


def _build(cls: type, params: dict, tasks):
    return cls(tasks, **params)


def search_speed(
    suite: Suite, trials: int, directory: Path, jobs_options: tuple[int, ...] = (1, 2)
) -> list[tuple[int, float]]:
    """Wall seconds of the same search budget with each number of worker processes (fresh stores each)."""
    timings = []
    for jobs in jobs_options:
        folder = directory / f"jobs-{jobs}"
        folder.mkdir(parents=True)
        variant = _search_variant(suite, folder, trials, pruner="none")
        started = time.perf_counter()
        StudyRunner(variant, f"journal:{folder / 'optuna.journal'}", show_progress=False).run(jobs)
        timings.append((jobs, time.perf_counter() - started))
    return timings


def pruning_savings(suite: Suite, trials: int, directory: Path) -> tuple[int, int]:
    """Epochs trained by a median-pruned single-objective study, and the epochs it would train unpruned."""
    variant = _search_variant(suite, directory, trials, pruner="median")
    StudyRunner(variant, f"journal:{directory / 'optuna.journal'}", show_progress=False).run()
    client = Tracker(variant.tracking_uri).client
    experiment_id = client.get_experiment_by_name(variant.name).experiment_id
    task = next(iter(PROBLEMS.get(suite.problem)(**suite.problem_options).tasks))
    trained = sum(
        len(client.get_metric_history(run.info.run_id, f"train/{task.name}/loss"))
        for run in client.search_runs([experiment_id], "tags.kind = 'trial'")
    )
    return trained, trials * suite.epochs


def _search_variant(suite: Suite, folder: Path, trials: int, pruner: str) -> Suite:
    """The suite's first searched strategy alone, on one val metric, tracked in ``folder``, written to disk
    (worker processes read the suite file)."""
    task = next(iter(PROBLEMS.get(suite.problem)(**suite.problem_options).tasks))
    search = dataclasses.replace(
        suite.search,
        strategies=suite.search.strategies[:1],
        space={k: v for k, v in suite.search.space.items() if k == suite.search.strategies[0]},
        trials=trials,
        objective=f"val/{task.name}/{task.primary_metric}",
        sampler="tpe",
        pruner=pruner,
    )
    resolved = {
        **dataclasses.replace(suite, search=search).resolved(),
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}"},
    }
    path = folder / "suite.toml"
    path.write_text(to_toml(resolved))
    return load_suite(path)
