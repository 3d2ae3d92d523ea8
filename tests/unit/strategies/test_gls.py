"""gls: the geometric mean of the losses; its gradient w.r.t. each loss is mean / (T L_t)."""

from __future__ import annotations

import torch

from strategies.gls import GLS
from tests.unit.strategies.steps import REGRESSION, THREE, context, losses_of, make_batch, make_net, scalar_context


def test_the_total_is_the_geometric_mean_and_each_weight_its_gradient_mean_over_t_times_the_loss():
    losses = {"a": torch.tensor(2.0, requires_grad=True), "b": torch.tensor(8.0, requires_grad=True)}
    losses["c"] = torch.tensor(0.5, requires_grad=True)
    total, weights = GLS(THREE).combine(scalar_context(losses))
    torch.testing.assert_close(total, torch.tensor(2.0))  # (2 * 8 * 0.5)^(1/3)
    gradients = torch.autograd.grad(total, list(losses.values()))
    expected = torch.tensor([2.0 / (3 * 2.0), 2.0 / (3 * 8.0), 2.0 / (3 * 0.5)])  # 1/3, 1/12, 4/3
    torch.testing.assert_close(torch.stack(gradients), expected)
    torch.testing.assert_close(torch.stack([weights[n] for n in ("a", "b", "c")]), expected)
    assert not any(w.requires_grad for w in weights.values())


def test_rescaling_one_loss_rescales_the_update_but_keeps_its_direction():
    torch.manual_seed(0)
    inputs, targets = make_batch(REGRESSION)
    grads = []
    for scale in (1.0, 100.0):
        net = make_net(REGRESSION)
        losses = losses_of(net, REGRESSION, inputs, targets)
        GLS(REGRESSION).backward(context(net, {"a": losses["a"], "b": scale * losses["b"]}))
        grads.append(torch.cat([p.grad.flatten() for p in net.shared_parameters()]))
    torch.testing.assert_close(grads[1], 10.0 * grads[0], rtol=1e-4, atol=1e-7)  # 100^(1/2) times, same direction
