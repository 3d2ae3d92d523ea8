"""Shared properties that every registered strategy must have (parametrised over the registry)."""

from __future__ import annotations

import optuna
import pytest
import torch

from benchmark.api.problem import InputSpec, TaskSpec
from benchmark.api.registry import STRATEGIES
from benchmark.api.strategy import StepContext, Strategy
from benchmark.train.model import MimoNet, ModelConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)

INPUTS = (InputSpec("features", "vector", (6,)),)
TASKS = (
    TaskSpec("kind", "classification", num_classes=3),
    TaskSpec("size", "regression", output_scale=100.0),
    TaskSpec("shade", "classification", num_classes=2),
)


def build(name: str, seed: int = 0) -> Strategy:
    """An instance from the strategy's own search space (a trial drawn by a real Optuna study)."""
    cls = STRATEGIES.get(name)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    return cls(TASKS, **cls.search_space(trial, TASKS))


def batch(seed: int):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 6, generator=generator)
    targets = {
        "kind": x[:, 0].gt(0).long() + x[:, 1].gt(0).long(),
        "size": 100 * x[:, 2],
        "shade": x[:, 3].gt(0).long(),
    }
    return {"features": x}, targets


def step(model: MimoNet, strategy: Strategy, optimizer: torch.optim.Optimizer, index: int):
    inputs, targets = batch(index)
    outputs, representation = model.forward_with_representation(inputs)
    losses = {
        "kind": torch.nn.functional.cross_entropy(outputs["kind"], targets["kind"]),
        "size": torch.nn.functional.mse_loss(outputs["size"], targets["size"]),
        "shade": torch.nn.functional.cross_entropy(outputs["shade"], targets["shade"]),
    }
    optimizer.zero_grad(set_to_none=True)
    weights = strategy.backward(
        StepContext(
            losses,
            model.shared_parameters(),
            model.task_parameters(),
            model.last_shared_layer,
            index,
            1,
            representation,
            torch.Generator().manual_seed(index),
        )
    )
    return weights


def setup(name: str):
    torch.manual_seed(0)
    model = MimoNet(INPUTS, TASKS, ModelConfig(vector_hidden=(16,), trunk=(16,)))
    strategy = build(name)
    optimizer = torch.optim.Adam([{"params": model.parameters()}, *strategy.parameter_groups(1e-3)], lr=1e-3)
    return model, strategy, optimizer


@pytest.fixture(params=STRATEGIES.names())
def name(request) -> str:
    return request.param


def test_documented_and_configured(name):
    cls = STRATEGIES.get(name)
    assert cls.summary(), f"{name} needs a one-line docstring"
    strategy = build(name)
    for option in cls.options():
        assert f"{option}=" in repr(strategy), f"repr of {name} must show {option}"


def test_step_gives_finite_shared_gradients_and_one_weight_per_task(name):
    model, strategy, optimizer = setup(name)
    for index in range(4):
        weights = step(model, strategy, optimizer, index)
        assert set(weights) == {t.name for t in TASKS}
        for value in weights.values():
            assert value.dim() == 0 and torch.isfinite(value)
            assert value >= 0 or getattr(strategy, "signed_weights", False)  # gradient methods' may be negative
        grads = [p.grad for p in model.shared_parameters() if p.grad is not None]
        assert grads, "the shared parameters received no gradient"
        assert all(torch.isfinite(g).all() for g in grads)
        assert model.last_shared_layer.weight.grad is not None
        assert model.last_shared_layer.weight.grad.abs().sum() > 0
        optimizer.step()
        strategy.after_step()


def test_state_dict_round_trips(name):
    model, strategy, optimizer = setup(name)
    for index in range(3):
        step(model, strategy, optimizer, index)
        optimizer.step()
        strategy.after_step()
    state = strategy.state_dict()
    restored = build(name)
    restored.load_state_dict(state)
    for key, value in restored.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, equal_nan=True, msg=key)


def test_search_space_builds_valid_instances(name):
    for seed in range(5):
        assert isinstance(build(name, seed), STRATEGIES.get(name))
