"""What a run records and how it ended: its tags and params in the store, and its outcome in this invocation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import ProblemData
from benchmark.suite.plan import RunSpec
from benchmark.suite.schema import Suite
from benchmark.tracking.filters import best_epoch_for
from benchmark.train.single_task import SingleTaskTrainers
from benchmark.train.trainer import Trainer


class StopRun(Exception):
    """Raised by an ``after_epoch`` hook to end a run early on purpose (e.g. a pruned search trial)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunOutcome:
    """How one run of this invocation ended."""

    spec: RunSpec
    status: str  # FINISHED (now, here), EARLIER (by an earlier invocation), ELSEWHERE (now, by another worker), FAILED, STOPPED
    test_metrics: dict[str, float]
    reason: str = ""
    seconds: float = 0.0
    run_id: str = ""
    val_metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # at the best-val epoch

    @property
    def label(self) -> str:
        return self.spec.strategy.label

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def counts(self) -> bool:
        """Whether this run's metrics count in the suite's results."""
        return self.status in ("FINISHED", "EARLIER", "ELSEWHERE")


def run_tags(suite: Suite, spec: RunSpec) -> dict[str, Any]:
    tags = {
        "strategy": spec.strategy.label,
        "strategy_name": spec.strategy.name,
        "seed": spec.seed,
        "problem": suite.problem,
        "suite": suite.name,
        "run_key": spec.run_key,
        "definition": spec.definition_key,  # the report covers one definition per strategy
        "setup": spec.setup_key,
    }
    labels = [entry.label for entry in suite.strategies]
    if spec.strategy.label in labels:  # not so for a search's `sum` baseline; the report lists suite order
        tags["strategy_position"] = labels.index(spec.strategy.label)
    return tags


def run_params(spec: RunSpec) -> dict[str, Any]:
    """The run's definition: every strategy option (defaults filled in), device, threads, code fingerprints."""
    return {
        "strategy": spec.strategy.name,
        "strategy_label": spec.strategy.label,
        "seed": spec.seed,
        **{f"strategy.{k}": v for k, v in spec.definition["strategy"].items() if k != "name"},
        **{k: v for k, v in spec.definition.items() if k not in ("strategy", "seed")},
    }


def logged_test_metrics(run) -> dict[str, float]:
    """The test metrics a tracked run holds (as the store has them)."""
    return {k: v for k, v in run.data.metrics.items() if k.startswith("test/")}


def failure_reason(error: BaseException) -> str:
    """A user's error as it reads; anything else with its type ('RuntimeError: ...')."""
    return str(error) if isinstance(error, MimoBenchError) else f"{type(error).__name__}: {error}"


def checkpoint(trainer: Trainer | SingleTaskTrainers, data: ProblemData, spec: RunSpec) -> dict[str, Any]:
    """The best-val model and the strategy state of the same epoch, with label maps; loadable with
    ``weights_only=True``.

    With separate nets (``single``) the model's keys are prefixed by the task name (``<task>.trunk.0.weight``).
    """
    return {
        "model": trainer.model.state_dict(),
        "strategy": trainer.best_strategy_state,
        "best_epoch": trainer.best_epoch,
        "run": spec.definition,
        "inputs": [dataclasses.asdict(i) for i in data.inputs],
        "tasks": [dataclasses.asdict(t) for t in data.tasks],
        "labels": {t.name: list(t.labels) for t in data.tasks if t.labels},
    }


def metrics_by_model_epoch(test: dict[str, float], selection: dict[str, float]) -> dict[int, dict[str, float]]:
    """The test metrics grouped by the epoch whose model gave them (``best_epoch``, or a task's own
    ``best_epoch/<task>`` with separate nets), so the MLflow UI plots each at that step."""
    grouped: dict[int, dict[str, float]] = {}
    for key, value in test.items():
        grouped.setdefault(best_epoch_for(selection, key), {})[key] = value
    return grouped
