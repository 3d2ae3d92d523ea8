"""imtl_l: L = sum_t exp(s_t) L_t - s_t; each s_t settles at -log L_t, where every scaled loss is 1; a resume."""

from __future__ import annotations

import math

import torch

from strategies.imtl_l import ImtlL
from tests.unit.gradient.common import assert_bit_identical, resumed_equals_straight
from tests.unit.strategies.steps import REGRESSION, scalar_context


def test_the_total_the_weights_and_the_scales_gradient_by_hand():
    strategy = ImtlL(REGRESSION)
    with torch.no_grad():
        strategy.scalarizer.log_scale.copy_(torch.tensor([0.5, -1.0]))
    total, weights = strategy.combine(scalar_context({"a": torch.tensor(2.0), "b": torch.tensor(3.0)}))
    torch.testing.assert_close(total, torch.tensor(math.exp(0.5) * 2 - 0.5 + math.exp(-1.0) * 3 + 1.0))
    torch.testing.assert_close(torch.stack([weights["a"], weights["b"]]), torch.tensor([math.exp(0.5), math.exp(-1)]))
    (gradient,) = torch.autograd.grad(total, strategy.scalarizer.log_scale)
    torch.testing.assert_close(gradient, torch.tensor([math.exp(0.5) * 2 - 1, math.exp(-1.0) * 3 - 1]))  # e^s L - 1
    (group,) = ImtlL(REGRESSION, lr=0.05).parameter_groups(1e-3)
    assert group["lr"] == 0.05 and group["weight_decay"] == 0.0
    assert list(strategy.state_dict()) == ["scalarizer.log_scale"]


def test_the_scales_settle_where_every_scaled_loss_is_one():
    strategy = ImtlL(REGRESSION, lr=0.05)
    optimizer = torch.optim.Adam(strategy.parameter_groups(1e-3))
    losses = {"a": torch.tensor(0.02), "b": torch.tensor(50.0)}  # 2500 times apart
    for step in range(3000):
        optimizer.zero_grad(set_to_none=True)
        strategy.backward(scalar_context(losses, step))
        optimizer.step()
    torch.testing.assert_close(
        strategy.scalarizer.log_scale.detach(), -torch.tensor([0.02, 50.0]).log(), atol=1e-3, rtol=0
    )
    _, weights = strategy.combine(scalar_context(losses))
    torch.testing.assert_close(weights["a"] * losses["a"], weights["b"] * losses["b"], atol=2e-3, rtol=0)


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("imtl_l", lr=0.05))
