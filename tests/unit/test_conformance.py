"""Every registered strategy keeps the plugin contract (`benchmark.testing.check_strategy`, over the registry)."""

from __future__ import annotations

import optuna
import pytest

from benchmark.api.registry import STRATEGIES
from benchmark.testing import check_tasks

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategy_keeps_the_contract(name, check_strategy):
    """Built with options from its own search space (a trial of a real Optuna study), as a search builds it."""
    cls = STRATEGIES.get(name)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    check_strategy(cls, **cls.search_space(trial, check_tasks()))
