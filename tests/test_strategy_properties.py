"""Defining properties of the normalized, uncertainty, gradnorm and alternating strategies (real torch)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import InputSpec, TaskSpec
from benchmark.api.strategy import StepContext, Strategy
from benchmark.train.metrics import task_loss
from benchmark.train.model import MimoNet, ModelConfig
from strategies.alternating import Alternating
from strategies.gradnorm import GradNorm
from strategies.normalized import Normalized
from strategies.uncertainty import Uncertainty

REGRESSION = (TaskSpec("a", "regression"), TaskSpec("b", "regression"))
THREE = (*REGRESSION, TaskSpec("c", "regression"))
MIXED = (TaskSpec("digit", "classification", num_classes=3), TaskSpec("size", "regression"))


def make_net(tasks, dim: int = 6, seed: int = 0) -> MimoNet:
    torch.manual_seed(seed)
    return MimoNet([InputSpec("x", "vector", (dim,))], tasks, ModelConfig(vector_hidden=(16,), trunk=(16,)))


def make_batch(tasks, n: int = 32, dim: int = 6, scales: dict[str, float] | None = None):
    """Inputs and targets that the net can learn: each task reads its own input coordinate."""
    x = torch.randn(n, dim)
    targets = {}
    for i, task in enumerate(tasks):
        if task.kind == "classification":
            targets[task.name] = (x[:, i] > 0).long() + (x[:, i] > 1).long()
        else:
            targets[task.name] = (scales or {}).get(task.name, 1.0) * torch.tanh(x[:, i] + x[:, -1])
    return {"x": x}, targets


def losses_of(net: MimoNet, tasks, inputs, targets) -> dict[str, torch.Tensor]:
    outputs = net(inputs)
    return {t.name: task_loss(t, outputs[t.name], targets[t.name]) for t in tasks}


def context(net: MimoNet, losses: dict[str, torch.Tensor], step: int = 0) -> StepContext:
    return StepContext(losses, net.shared_parameters(), net.task_parameters(), net.last_shared_layer, step, 1)


def train_step(strategy: Strategy, net: MimoNet, optimizer, tasks, step: int, **batch_options):
    """One step as `benchmark.train.train` runs it, on a fresh batch; returns the strategy's weights."""
    losses = losses_of(net, tasks, *make_batch(tasks, **batch_options))
    optimizer.zero_grad(set_to_none=True)
    weights = strategy.backward(context(net, losses, step))
    optimizer.step()
    strategy.after_step()
    return weights


def adam(net: nn.Module, strategy: Strategy, lr: float = 1e-3) -> torch.optim.Adam:
    return torch.optim.Adam([{"params": net.parameters()}, *strategy.parameter_groups(lr)], lr=lr)


def grad_norm(loss: torch.Tensor, params) -> torch.Tensor:
    """||d loss / d params||, keeping the graph."""
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(params), retain_graph=True)]).norm()


def scalar_context(losses: dict[str, torch.Tensor], step: int = 0) -> StepContext:
    return StepContext(losses, [], {}, nn.Identity(), step, 1)


# -- normalized ----------------------------------------------------------------------------------


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


# -- uncertainty ---------------------------------------------------------------------------------


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


# -- gradnorm ------------------------------------------------------------------------------------


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


# -- alternating ---------------------------------------------------------------------------------


def head_state(net: MimoNet) -> dict[str, list[torch.Tensor]]:
    return {name: [p.detach().clone() for p in head.parameters()] for name, head in net.heads.items()}


def test_alternating_round_robin_changes_only_the_scheduled_tasks_head():
    net = make_net(THREE)
    strategy = Alternating(THREE)
    optimizer = adam(net, strategy, lr=1e-2)
    for step in range(7):
        before, shared_before = head_state(net), net.last_shared_layer.weight.detach().clone()
        weights = train_step(strategy, net, optimizer, THREE, step)
        scheduled = THREE[step % 3].name
        assert {n: float(w) for n, w in weights.items()} == {t.name: float(t.name == scheduled) for t in THREE}
        for name, params in head_state(net).items():
            unchanged = all(torch.equal(a, b) for a, b in zip(params, before[name], strict=True))
            assert unchanged == (name != scheduled), (step, name)
            assert all((p.grad is None) == (name != scheduled) for p in net.heads[name].parameters())
        assert not torch.equal(net.last_shared_layer.weight, shared_before)


def test_alternating_random_shares_converge_to_the_probabilities():
    probabilities = {"a": 0.6, "b": 0.3, "c": 0.1}
    strategy = Alternating(THREE, schedule="random", probabilities=probabilities, seed=3)
    param = torch.zeros(3, requires_grad=True)
    for step in range(5000):
        strategy.backward(scalar_context({t.name: param[i] ** 2 for i, t in enumerate(THREE)}, step))
    shares = strategy.epoch_metrics()
    for name, probability in probabilities.items():
        assert shares[f"share/{name}"] == pytest.approx(probability, abs=0.025)
    strategy.end_epoch(1, {}, {})
    assert strategy.epoch_metrics() == {"share/a": 0.0, "share/b": 0.0, "share/c": 0.0}


def test_alternating_focus_shifts_steps_to_the_task_that_lags_behind_its_best():
    strategy = Alternating(MIXED, schedule="focus", focus_period=10, focus_boost=4.0, seed=0)
    param = torch.zeros(2, requires_grad=True)

    def epoch(number: int, accuracy: float, mae: float, steps: int = 2000) -> dict[str, float]:
        strategy.end_epoch(number, {}, {"val/digit/accuracy": accuracy, "val/size/mae": mae, "val/size/loss": 9.0})
        start = number * steps
        for step in range(start, start + steps):
            strategy.backward(scalar_context({"digit": param[0] ** 2, "size": param[1] ** 2}, step))
        return strategy.epoch_metrics()

    assert epoch(1, accuracy=0.5, mae=1.0)["share/size"] == pytest.approx(0.5, abs=0.04)  # no history yet
    assert epoch(2, accuracy=0.7, mae=1.0)["share/size"] == pytest.approx(0.8, abs=0.04)  # size stagnates
    assert epoch(3, accuracy=0.7, mae=0.5)["share/digit"] == pytest.approx(0.8, abs=0.04)  # digit stagnates
    assert epoch(4, accuracy=0.8, mae=0.6)["share/size"] == pytest.approx(0.8, abs=0.04)  # size got worse


def test_alternating_accumulate_steps_once_per_cycle_with_each_tasks_own_batch():
    net = make_net(REGRESSION)
    strategy = Alternating(REGRESSION, accumulate=True)
    optimizer = adam(net, strategy)
    batches = [make_batch(REGRESSION) for _ in range(2)]
    expected = copy.deepcopy(net)
    for task, (inputs, targets) in zip(REGRESSION, batches, strict=True):
        losses_of(expected, REGRESSION, inputs, targets)[task.name].backward()
    before = copy.deepcopy(net.state_dict())

    for step, (inputs, targets) in enumerate(batches):
        optimizer.zero_grad(set_to_none=True)
        strategy.backward(context(net, losses_of(net, REGRESSION, inputs, targets), step))
        if step == 0:
            assert all(p.grad is None for p in net.parameters())
            optimizer.step()
            assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    for (name, param), reference in zip(net.named_parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(param.grad, reference.grad, msg=name)


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [
        (Normalized, {"scale": "ema"}, r"scale must be one of \['running', 'initial'\], got 'ema'"),
        (Normalized, {"decay": 1.0}, r"decay must be a number in \[0, 1\), got 1.0"),
        (Normalized, {"warmup": 0}, "warmup must be an integer >= 1"),
        (Normalized, {"weights": {"a": 1, "b": -1}}, "weights.b must be >= 0, got -1"),
        (Normalized, {"weights": {"a": 0, "b": 0}}, "weights are all zero"),
        (Normalized, {"weights": {"a": 1}}, r"weights is missing task\(s\) \['b'\]"),
        (Uncertainty, {"init_log_variance": math.nan}, "init_log_variance must be a finite number"),
        (Uncertainty, {"init_log_variance": {"a": 0, "z": 1}}, r"init_log_variance names unknown task\(s\) \['z'\]"),
        (Uncertainty, {"init_log_variance": {"a": 0, "b": "1"}}, "init_log_variance.b must be a finite number"),
        (Uncertainty, {"lr": 0}, "lr must be a positive number or None"),
        (GradNorm, {"alpha": -0.5}, "alpha must be a finite number >= 0"),
        (GradNorm, {"lr": math.inf}, "lr must be a positive number"),
        (GradNorm, {"layer": "first"}, r"layer must be one of \['last', 'last_with_bias', 'shared'\]"),
        (GradNorm, {"warmup": 1.5}, "warmup must be an integer >= 1"),
        (Alternating, {"schedule": "cyclic"}, r"schedule must be one of \['round_robin', 'random', 'focus'\]"),
        (Alternating, {"tasks_per_step": 3}, r"tasks_per_step must be an integer in \[1, 2\], got 3"),
        (Alternating, {"probabilities": {"a": 1, "b": 1}}, "probabilities apply to schedule 'random' or 'focus'"),
        (Alternating, {"schedule": "random", "probabilities": {"a": -1, "b": 1}}, "probabilities.a must be"),
        (
            Alternating,
            {"schedule": "random", "probabilities": {"a": 0, "b": 0}},
            "probabilities must be positive for at least tasks_per_step=1",
        ),
        (Alternating, {"schedule": "focus", "focus_period": 0}, "focus_period must be an integer >= 1"),
        (Alternating, {"schedule": "focus", "focus_boost": 0.5}, "focus_boost must be a finite number >= 1"),
        (Alternating, {"schedule": "random", "accumulate": True}, "accumulate=true .* schedule='round_robin'"),
        (Alternating, {"accumulate": 1}, "accumulate must be true or false"),
        (Alternating, {"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_options_raise_a_clear_error(cls, options, message):
    with pytest.raises(MimoBenchError, match=f"strategy '{cls.name}': {message}"):
        cls(REGRESSION, **options)


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
