"""uncertainty_reg: the regulariser log(1 + sigma^2), its gradient, its fixed point, and a resume."""

from __future__ import annotations

import math

import torch

from strategies.uncertainty import Uncertainty
from strategies.uncertainty_reg import UncertaintyReg
from tests.unit.gradient.common import assert_bit_identical, resumed_equals_straight
from tests.unit.strategies.steps import MIXED, REGRESSION, scalar_context


def test_the_total_is_half_the_precision_weighted_loss_plus_log_one_plus_the_variance():
    variances = torch.tensor([0.5, 3.0])  # digit (classification), size (regression): both get 1 / (2 sigma^2)
    strategy = UncertaintyReg(MIXED, init_log_variance={"digit": math.log(0.5), "size": math.log(3.0)})
    total, weights = strategy.combine(scalar_context({"digit": torch.tensor(2.0), "size": torch.tensor(3.0)}))
    torch.testing.assert_close(total, torch.tensor(2.0 / (2 * 0.5) + math.log(1.5) + 3.0 / (2 * 3.0) + math.log(4.0)))
    torch.testing.assert_close(torch.stack([weights["digit"], weights["size"]]), 1 / (2 * variances))
    assert strategy.name == "uncertainty_reg" and isinstance(strategy, Uncertainty)


def test_the_regulariser_and_its_gradient_in_the_log_variance():
    log_variance = torch.tensor([-30.0, -2.0, 0.0, 1.5, 25.0], requires_grad=True)
    regulariser = UncertaintyReg(REGRESSION).regulariser(log_variance)
    variance = log_variance.detach().double().exp()
    torch.testing.assert_close(regulariser.detach().double(), variance.log1p(), rtol=1e-6, atol=1e-12)
    (gradient,) = torch.autograd.grad(regulariser.sum(), log_variance)
    # d log(1 + sigma^2) / ds = sigma^2 / (1 + sigma^2), i.e. 1 / (1 + sigma^2) per unit of sigma^2
    torch.testing.assert_close(gradient.double(), variance / (1 + variance), rtol=1e-6, atol=1e-12)
    assert (regulariser > 0).all()


def test_unlike_uncertainty_a_zero_loss_cannot_drive_the_total_below_zero():
    losses = {"a": torch.tensor(0.0), "b": torch.tensor(0.0)}

    def total(strategy_class) -> float:  # both log-variances at -40 (sigma^2 = 4e-18)
        return strategy_class(REGRESSION, init_log_variance=-40.0).combine(scalar_context(losses))[0].item()

    assert total(Uncertainty) == -40.0  # s / 2 per task: unbounded below as sigma shrinks
    assert 0.0 < total(UncertaintyReg) < 1e-15


def test_the_variance_settles_at_the_fixed_point_of_the_positive_regulariser():
    strategy = UncertaintyReg(REGRESSION, lr=0.05)
    optimizer = torch.optim.Adam(strategy.parameter_groups(1e-3))
    losses = {"a": torch.tensor(0.1), "b": torch.tensor(2.0)}
    for step in range(3000):
        optimizer.zero_grad(set_to_none=True)
        strategy.backward(scalar_context(losses, step))
        optimizer.step()
    fixed_point = [(loss + math.sqrt(loss**2 + 8 * loss)) / 4 for loss in (0.1, 2.0)]  # 2 v^2 = L (1 + v): 0.25, 1.618
    torch.testing.assert_close(strategy.log_variance.detach().exp(), torch.tensor(fixed_point), rtol=1e-3, atol=0)
    assert not math.isclose(fixed_point[1], 2.0, rel_tol=0.1)  # not uncertainty's sigma^2 = L


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("uncertainty_reg", lr=0.05))
