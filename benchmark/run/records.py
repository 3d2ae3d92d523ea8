"""What a run records and how it ended: its tags and params in the store, and its outcome in this invocation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from benchmark.api.errors import MimoBenchError
from benchmark.suite.plan import RunSpec
from benchmark.suite.schema import Suite


class StopRun(Exception):
    """Raised by an ``after_epoch`` hook to end a run early on purpose (e.g. a pruned search trial)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunOutcome:
    """How one run of this invocation ended."""

    spec: RunSpec
    status: str  # FINISHED (now), EARLIER (by an earlier invocation), BUSY (another process), FAILED, STOPPED
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
        return self.status in ("FINISHED", "EARLIER")


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


def failure_reason(error: BaseException) -> str:
    """A user's error as it reads; anything else with its type ('RuntimeError: ...')."""
    return str(error) if isinstance(error, MimoBenchError) else f"{type(error).__name__}: {error}"
