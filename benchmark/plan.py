"""The runs a suite defines: one per (strategy configuration, seed), each with its stable run key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import benchmark
from benchmark.config import StrategyEntry, Suite


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
