"""normalized: every task's gradient scaled by its detached loss scale."""

from __future__ import annotations

import torch

from strategies.normalized import Normalized
from tests.unit.strategies.steps import (
    MIXED,
    REGRESSION,
    context,
    losses_of,
    make_batch,
    make_net,
    scalar_context,
)


def test_normalized_gives_every_task_a_nonzero_gradient_scaled_by_its_detached_loss():
    net = make_net(MIXED)
    inputs, targets = make_batch(MIXED)
    static = {"digit": 2.0, "size": 0.5}
    losses = losses_of(net, MIXED, inputs, targets)
    weights = Normalized(MIXED, weights=static).backward(context(net, losses))
    reference = losses_of(net, MIXED, inputs, targets)  # same parameters: the step's graph again
    for task, weight in static.items():
        head = list(net.heads[task].parameters())
        expected = torch.autograd.grad(reference[task], head)
        torch.testing.assert_close(weights[task], weight / losses[task].detach())
        for param, grad in zip(head, expected, strict=True):
            assert param.grad.abs().sum() > 0
            torch.testing.assert_close(param.grad, weight * grad / losses[task].detach())
    assert all(p.grad.abs().sum() > 0 for p in net.last_shared_layer.parameters())


def test_normalized_scale_is_warmup_mean_then_ema_or_frozen_and_checkpointed():
    sequence = [2.0, 4.0, 8.0, 16.0]
    running = Normalized(REGRESSION, warmup=2, decay=0.5)
    initial = Normalized(REGRESSION, warmup=2, scale="initial")
    for step, value in enumerate(sequence[:3]):
        for strategy in (running, initial):
            param = torch.tensor(1.0, requires_grad=True)
            strategy.backward(scalar_context({"a": value * param, "b": 10 * value * param}, step))
    torch.testing.assert_close(running.loss_scale, torch.tensor([5.5, 55.0]))  # mean(2, 4), then halfway to 8
    torch.testing.assert_close(initial.loss_scale, torch.tensor([3.0, 30.0]))
    restored = Normalized(REGRESSION, warmup=2, decay=0.5)
    restored.load_state_dict(running.state_dict())
    for strategy in (running, restored):
        param = torch.tensor(1.0, requires_grad=True)
        strategy.backward(scalar_context({"a": 16 * param, "b": 160 * param}, 3))
    torch.testing.assert_close(restored.loss_scale, running.loss_scale)
    torch.testing.assert_close(running.loss_scale, torch.tensor([10.75, 107.5]))


def test_normalized_initial_scale_makes_gradients_invariant_to_loss_scale():
    param = torch.tensor([0.3, -0.7], requires_grad=True)
    plain, scaled = Normalized(REGRESSION, scale="initial"), Normalized(REGRESSION, scale="initial")
    for step in range(3):
        gradients = []
        for strategy, factor in ((plain, 1.0), (scaled, 1000.0)):
            param.grad = None
            losses = {"a": (param[0] - 2) ** 2 + step, "b": factor * (param[1] + step) ** 2}
            strategy.backward(scalar_context(losses, step))
            gradients.append(param.grad.clone())
        assert gradients[0].abs().min() > 0
        torch.testing.assert_close(gradients[1], gradients[0])
