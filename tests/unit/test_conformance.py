"""Every registered strategy keeps the plugin contract (`benchmark.testing.check_strategy`, over the registry)."""

from __future__ import annotations

import optuna
import pytest

from benchmark.api.problem import InputSpec, TaskSpec
from benchmark.api.registry import STRATEGIES
from benchmark.api.strategy import Strategy
from benchmark.testing import check_tasks

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_keeps_the_contract(name, check_strategy):
    """Built with options from its own search space (a trial of a real Optuna study), as a search builds it."""
    cls = STRATEGIES.get(name)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    check_strategy(cls, **cls.search_space(trial, check_tasks()))


# Three tasks of mixed kinds and scales, and instances from the search space, for the tests that train a few steps
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
