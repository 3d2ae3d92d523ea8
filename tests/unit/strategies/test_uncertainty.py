"""uncertainty: the likelihood forms and the learned noise variances."""

from __future__ import annotations

import math

import torch
from torch import nn

from strategies.uncertainty import Uncertainty
from tests.unit.strategies.steps import (
    MIXED,
    REGRESSION,
    adam,
    scalar_context,
)


def test_uncertainty_uses_the_regression_and_classification_likelihood_forms():
    strategy = Uncertainty(MIXED, init_log_variance={"digit": -0.5, "size": 1.0})
    losses = {"digit": torch.tensor(2.0), "size": torch.tensor(3.0)}
    total, weights = strategy.combine(scalar_context(losses))
    torch.testing.assert_close(weights["digit"], torch.tensor(math.exp(0.5)))
    torch.testing.assert_close(weights["size"], torch.tensor(0.5 * math.exp(-1.0)))
    expected = math.exp(0.5) * 2.0 - 0.25 + 0.5 * math.exp(-1.0) * 3.0 + 0.5
    torch.testing.assert_close(total, torch.tensor(expected))
    (group,) = Uncertainty(MIXED, lr=0.05).parameter_groups(1e-3)
    assert group["lr"] == 0.05 and group["weight_decay"] == 0.0


def test_uncertainty_learns_each_tasks_noise_variance():
    torch.manual_seed(0)
    slopes, noise = torch.randn(3, 2), torch.tensor([0.5, 2.0])  # variances 0.25 and 4.0
    model = nn.Linear(3, 2)
    strategy = Uncertainty(REGRESSION, lr=0.05)
    optimizer = adam(model, strategy, lr=0.02)

    def batch(n: int) -> dict[str, torch.Tensor]:
        x = torch.randn(n, 3)
        errors = model(x) - (x @ slopes + noise * torch.randn(n, 2))
        return {"a": errors[:, 0].pow(2).mean(), "b": errors[:, 1].pow(2).mean()}

    for step in range(1500):
        optimizer.zero_grad(set_to_none=True)
        strategy.backward(scalar_context(batch(256), step))
        optimizer.step()
    with torch.no_grad():
        mse = torch.stack(list(batch(50_000).values()))
    torch.testing.assert_close(mse, noise**2, rtol=0.1, atol=0.0)  # the model fits the mean
    assert torch.allclose(strategy.log_variance.exp(), mse, rtol=0.2, atol=0.0)
