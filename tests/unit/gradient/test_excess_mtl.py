"""ExcessMTL: weights on the simplex that grow for the task with the larger relative excess risk; resumable."""

import torch

from tests.unit.gradient.common import assert_bit_identical, build, resumed_equals_straight


def test_the_task_whose_excess_risk_grows_gains_weight():
    strategy = build("excess_mtl")
    base = torch.ones(3, 5)
    strategy.aggregate(base, base @ base.T)  # step 1 sets the baseline
    grown = base.clone()
    grown[1] *= 3.0  # task 1's gradients (and so its excess-risk proxy) grow
    weights, _ = strategy.aggregate(grown, grown @ grown.T)
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0))
    assert weights[1] > weights[0] and torch.isclose(weights[0], weights[2])


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("excess_mtl"))
