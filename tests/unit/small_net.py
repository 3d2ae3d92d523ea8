"""A three-task vector problem and strategies built from their own search spaces, for in-process tests."""

from __future__ import annotations

import optuna

from benchmark.api import STRATEGIES, InputSpec, Strategy, TaskSpec

INPUTS = (InputSpec("features", "vector", (6,)),)
TASKS = (
    TaskSpec("kind", "classification", num_classes=3),
    TaskSpec("size", "regression", output_scale=100.0),
    TaskSpec("shade", "classification", num_classes=2),
)


def build(name: str, seed: int = 0) -> Strategy:
    """An instance from the strategy's own search space (a trial drawn by a real Optuna study)."""
    cls = STRATEGIES.get(name)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    return cls(TASKS, **cls.search_space(trial, TASKS))
