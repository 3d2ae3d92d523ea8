"""Run a suite: expand strategies x seeds, train each, track it, print the summary.

A failing run is recorded as FAILED with its reason and the suite goes on; Ctrl-C marks
the current run KILLED and re-raises.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import torch

import benchmark
from benchmark.config import StrategyEntry, Suite, to_toml
from benchmark.errors import MimoBenchError
from benchmark.model import ModelConfig
from benchmark.problem import ProblemData
from benchmark.progress import SuiteProgress
from benchmark.registries import PROBLEMS, STRATEGIES
from benchmark.summary import summary_markdown
from benchmark.tracking import Tracker
from benchmark.train import RunFailed, RunResult, TrainConfig, train


@dataclass(frozen=True)
class RunSpec:
    """One run of a suite: a strategy configuration and a seed."""

    strategy: StrategyEntry
    seed: int
    definition: dict[str, Any]  # everything that defines the run's result

    @property
    def run_key(self) -> str:
        canonical = json.dumps(self.definition, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return f"{self.strategy.label}/seed-{self.seed}"


@dataclass
class RunOutcome:
    """How one run ended."""

    spec: RunSpec
    status: str  # FINISHED or FAILED
    test_metrics: dict[str, float]
    reason: str = ""
    seconds: float = 0.0
    run_id: str = ""

    @property
    def label(self) -> str:
        return self.spec.strategy.label

    @property
    def seed(self) -> int:
        return self.spec.seed


def expand(suite: Suite) -> list[RunSpec]:
    """Every (strategy configuration, seed) pair of the suite, strategy-major."""
    shared = {
        "problem": {"name": suite.problem, **suite.problem_options},
        "model": suite.model,
        "optimizer": suite.optimizer,
        "epochs": suite.epochs,
        "batch_size": suite.batch_size,
        "version": benchmark.__version__,
    }
    return [
        RunSpec(entry, seed, {**shared, "strategy": {"name": entry.name, **entry.params}, "seed": seed})
        for entry in suite.strategies
        for seed in suite.seeds
    ]


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise MimoBenchError("device = 'cuda' but no CUDA device is available; use 'cpu' or 'auto'")
    return device


def model_config(suite: Suite) -> ModelConfig:
    return ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in suite.model.items()})


def checkpoint(result: RunResult, data: ProblemData, spec: RunSpec) -> dict[str, Any]:
    """The best-val model and strategy state with label maps; loadable with ``weights_only=True``."""
    return {
        "model": result.model.state_dict(),
        "strategy": result.strategy.state_dict(),
        "best_epoch": result.best_epoch,
        "run": spec.definition,
        "inputs": [dataclasses.asdict(i) for i in data.inputs],
        "tasks": [dataclasses.asdict(t) for t in data.tasks],
        "labels": {t.name: list(t.labels) for t in data.tasks if t.labels},
    }


class SuiteRunner:
    """Runs one suite invocation against one tracking store."""

    def __init__(self, suite: Suite, show_progress: bool = True):
        self.suite = suite
        self.device = resolve_device(suite.device)
        self.tracker = Tracker(suite.tracking_uri)
        self.problem = PROBLEMS.get(suite.problem)(**suite.problem_options)
        self.show_progress = show_progress
        self._data: dict[int, ProblemData] = {}

    def data(self, seed: int) -> ProblemData:
        if seed not in self._data:
            self._data[seed] = self.problem.load(seed)
        return self._data[seed]

    def run(self) -> list[RunOutcome]:
        suite = self.suite
        experiment_id = self.tracker.experiment(suite.name)
        parent = self.tracker.start_run(
            experiment_id,
            f"{suite.name} {datetime.now():%Y-%m-%d %H:%M}",
            {"suite": suite.name, "problem": suite.problem, "kind": "suite"},
            {k: v for k, v in suite.resolved().items() if k != "strategies"},
        )
        parent.text(to_toml(suite.resolved()), "suite.toml")
        specs = expand(suite)
        outcomes: list[RunOutcome] = []
        with SuiteProgress(len(specs), enabled=self.show_progress) as progress:
            try:
                for spec in specs:
                    outcomes.append(self.run_one(spec, experiment_id, parent.run_id, progress))
                    progress.end_run()
            except KeyboardInterrupt:
                parent.finish("KILLED")
                raise
        parent.describe(summary_markdown(outcomes, self.problem.tasks))
        parent.finish("FINISHED")
        return outcomes

    def run_one(self, spec: RunSpec, experiment_id: str, parent_run_id: str, progress: SuiteProgress) -> RunOutcome:
        suite = self.suite
        tags = {
            "strategy": spec.strategy.label,
            "strategy_name": spec.strategy.name,
            "seed": spec.seed,
            "problem": suite.problem,
            "suite": suite.name,
            "run_key": spec.run_key,
            "torch_version": torch.__version__,
        }
        params = {
            "strategy": spec.strategy.name,
            "strategy_label": spec.strategy.label,
            "seed": spec.seed,
            **{f"strategy.{k}": v for k, v in spec.strategy.params.items()},
            **{k: v for k, v in spec.definition.items() if k not in ("strategy", "seed")},
        }
        log = self.tracker.start_run(experiment_id, spec.name, tags, params, parent_run_id)
        started = time.perf_counter()
        try:
            data = self.data(spec.seed)
            strategy_cls = STRATEGIES.get(spec.strategy.name)
            config = TrainConfig(
                suite.epochs,
                suite.batch_size,
                suite.optimizer["lr"],
                suite.optimizer["weight_decay"],
                spec.seed,
                self.device,
            )
            progress.start_run(spec.name, suite.epochs, math.ceil(len(data.train) / suite.batch_size))
            result = train(
                data,
                model_config(suite),
                lambda tasks: strategy_cls(tasks, **spec.strategy.params),
                config,
                on_epoch=lambda epoch, values: log.metrics(values, epoch),
                on_batch=progress.batch,
            )
            log.text(repr(result.strategy), "strategy.txt")
            log.metrics({**result.test_metrics, "best_epoch": result.best_epoch}, suite.epochs)
            log.file(lambda path: torch.save(checkpoint(result, data, spec), path), "checkpoint.pt")
        except KeyboardInterrupt:
            log.tags({"failure_reason": "interrupted by the user"})
            log.finish("KILLED")
            raise
        except Exception as error:  # a failed run is recorded and the suite goes on
            reason = f"{type(error).__name__}: {error}"
            extra = {"failure_step": error.step} if isinstance(error, RunFailed) else {}
            log.tags({"failure_reason": reason, **extra})
            log.finish("FAILED")
            progress.log(f"[red]FAILED[/red] {spec.name}: {reason}")
            return RunOutcome(spec, "FAILED", {}, reason, time.perf_counter() - started, log.run_id)
        log.finish("FINISHED")
        return RunOutcome(spec, "FINISHED", result.test_metrics, "", time.perf_counter() - started, log.run_id)
