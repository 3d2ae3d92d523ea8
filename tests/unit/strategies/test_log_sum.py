"""log_sum: the sum of the log losses; weights 1 / L_t; the update does not change when one loss is rescaled."""

from __future__ import annotations

import torch

from strategies.gls import GLS
from strategies.log_sum import LogSum
from strategies.sum import Sum
from tests.unit.strategies.steps import (
    REGRESSION,
    context,
    losses_of,
    make_batch,
    make_net,
    scalar_context,
)


def test_the_total_is_the_sum_of_logs_and_each_weight_one_over_the_loss():
    losses = {"a": torch.tensor(0.25, requires_grad=True), "b": torch.tensor(40.0, requires_grad=True)}
    total, weights = LogSum(REGRESSION).combine(scalar_context(losses))
    torch.testing.assert_close(total, torch.log(torch.tensor(10.0)))  # log 0.25 + log 40
    gradients = torch.stack(torch.autograd.grad(total, list(losses.values())))
    torch.testing.assert_close(gradients, torch.tensor([4.0, 0.025]))
    torch.testing.assert_close(torch.stack([weights["a"], weights["b"]]), gradients)


def step_after_rescaling(strategy_class, scale: float) -> list[torch.Tensor]:
    """The net's parameters after one SGD step on a batch whose task-b loss is multiplied by ``scale``."""
    torch.manual_seed(0)
    inputs, targets = make_batch(REGRESSION)
    net = make_net(REGRESSION)
    strategy = strategy_class(REGRESSION)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)  # Adam's first step is sign-like: it would hide the scale
    losses = losses_of(net, REGRESSION, inputs, targets)
    strategy.backward(context(net, {"a": losses["a"], "b": scale * losses["b"]}))
    optimizer.step()
    return [p.detach().clone() for p in net.parameters()]


def test_rescaling_one_loss_leaves_the_update_unchanged():
    for scale in (1e-3, 1e3):
        for before, after in zip(step_after_rescaling(LogSum, 1.0), step_after_rescaling(LogSum, scale), strict=True):
            torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
    plain = zip(step_after_rescaling(Sum, 1.0), step_after_rescaling(Sum, 1e3), strict=True)
    assert any(not torch.allclose(a, b, rtol=1e-3) for a, b in plain)  # the plain sum's update does change


def test_gls_takes_the_same_direction_scaled_by_the_geometric_mean_over_t():
    torch.manual_seed(0)
    inputs, targets = make_batch(REGRESSION, scales={"b": 30.0})
    grads = []
    for strategy in (LogSum(REGRESSION), GLS(REGRESSION)):
        net = make_net(REGRESSION)  # the same net each time
        losses = losses_of(net, REGRESSION, inputs, targets)
        geometric_mean = float((losses["a"] * losses["b"]).detach().sqrt())
        strategy.backward(context(net, losses))
        grads.append(torch.cat([p.grad.flatten() for p in net.shared_parameters()]))
    torch.testing.assert_close(grads[1], grads[0] * geometric_mean / 2, rtol=1e-4, atol=1e-7)
