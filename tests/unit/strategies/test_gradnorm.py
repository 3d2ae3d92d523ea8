"""gradnorm: gradient norms pushed toward the mean norm times the relative rate to the alpha."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.api.strategy import StepContext
from strategies.gradnorm import GradNorm
from tests.unit.strategies.steps import (
    MIXED,
    REGRESSION,
    adam,
    context,
    grad_norm,
    losses_of,
    make_batch,
    make_net,
    train_step,
)


def test_gradnorm_lowers_the_weight_of_the_large_scale_task_keeping_weights_positive_summing_to_t():
    net = make_net(REGRESSION)
    strategy = GradNorm(REGRESSION)
    optimizer = adam(net, strategy)
    for step in range(150):
        train_step(strategy, net, optimizer, REGRESSION, step, scales={"b": 100.0})
        assert (strategy.task_weights > 0).all()
        torch.testing.assert_close(strategy.task_weights.sum(), torch.tensor(2.0))
    small, large = strategy.task_weights.tolist()
    assert large < 1.0 < small


@pytest.mark.parametrize("layer", ["last", "last_with_bias", "shared"])
def test_gradnorm_network_gets_exactly_the_weighted_sum_gradient_and_w_only_the_gradnorm_loss(layer):
    net = make_net(MIXED)
    inputs, targets = make_batch(MIXED)
    strategy = GradNorm(MIXED, layer=layer, alpha=0.7, warmup=2)
    strategy.backward(context(net, losses_of(net, MIXED, inputs, targets)))  # step 0 sets L(0)
    net.zero_grad(set_to_none=True)
    with torch.no_grad():
        strategy.task_weights.copy_(torch.tensor([0.4, 1.6]))
    batch = make_batch(MIXED)
    weights = strategy.backward(context(net, losses_of(net, MIXED, *batch), step=1))
    network_grads = {name: p.grad.clone() for name, p in net.named_parameters()}

    w = torch.tensor([0.4, 1.6])
    assert torch.equal(torch.stack([weights["digit"], weights["size"]]), w)
    net.zero_grad(set_to_none=True)
    losses = losses_of(net, MIXED, *batch)  # the same step's graph, rebuilt for the reference
    layer_params = {
        "last": [net.last_shared_layer.weight],
        "last_with_bias": list(net.last_shared_layer.parameters()),
        "shared": net.shared_parameters(),
    }[layer]
    norms = torch.stack([grad_norm(losses[t.name], layer_params) for t in MIXED])
    (w * torch.stack([losses["digit"], losses["size"]])).sum().backward()
    for name, param in net.named_parameters():
        torch.testing.assert_close(network_grads[name], param.grad, rtol=1e-6, atol=1e-7)

    ratios = torch.stack([losses["digit"], losses["size"]]).detach() / strategy.initial_loss
    targets = (w * norms).mean() * (ratios / ratios.mean()) ** 0.7
    torch.testing.assert_close(strategy.task_weights.grad, torch.sign(w * norms - targets) * norms)


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_gradnorm_pushes_each_gradient_norm_toward_mean_norm_times_relative_rate_to_the_alpha(side):
    net = make_net(MIXED)
    batch = make_batch(MIXED)
    losses = losses_of(net, MIXED, *batch)
    norms = torch.stack([grad_norm(losses[t.name], [net.last_shared_layer.weight]) for t in MIXED])
    strategy = GradNorm(MIXED, alpha=0.7)
    loss_vector = torch.stack([losses["digit"], losses["size"]]).detach()
    strategy.initial_loss.copy_(loss_vector * torch.tensor([1.0, 4.0]))  # loss ratios 1 and 1/4: r = (1.6, 0.4)
    strategy.count.fill_(1)  # past the warm-up: L(0) stays as set
    # Put G_0 = w_0 n_0 5% above (side=1) or below (side=-1) its target mean(G) * r_0^alpha.
    share = 1.6**0.7 / 2 * (1 + 0.05 * side)  # G_0 / (G_0 + G_1)
    with torch.no_grad():
        strategy.task_weights.copy_(torch.stack([share * norms[1] / ((1 - share) * norms[0]), torch.tensor(1.0)]))
    strategy.backward(context(net, losses))
    assert torch.sign(strategy.task_weights.grad[0]) == side  # a wrong alpha (e.g. 1.5: r^alpha = 2.0) flips one side


@pytest.mark.parametrize(("layer", "expected"), [("last", (6.0, 28.0)), ("last_with_bias", (45**0.5, 980**0.5))])
def test_gradnorm_measures_the_last_layers_weight_alone_by_default(layer, expected):
    """h = w x + b with w = 2, b = 3, x = 2 (h = 7); L_a = 3h, L_b = h^2.  dL_a/dw = 3x = 6, dL_a/db = 3;
    dL_b/dw = 2hx = 28, dL_b/db = 2h = 14.  At step 0 the loss ratios are 1, so the target is mean(G) and
    d L_grad / d w_t = sign(G_t - mean(G)) G_t = (-G_a, +G_b)."""
    last = nn.Linear(1, 1)
    with torch.no_grad():
        last.weight.fill_(2.0)
        last.bias.fill_(3.0)
    h = last(torch.tensor([[2.0]])).squeeze()
    strategy = GradNorm(REGRESSION, layer=layer)
    strategy.backward(StepContext({"a": 3 * h, "b": h**2}, list(last.parameters()), {}, last, 0, 1))
    torch.testing.assert_close(strategy.task_weights.grad, torch.tensor([-expected[0], expected[1]]))
