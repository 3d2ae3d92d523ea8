"""alternating: only the scheduled tasks step; shares, focus and accumulation."""

from __future__ import annotations

import copy

import pytest
import torch

from strategies.alternating import Alternating
from tests.unit.strategies.steps import (
    MIXED,
    REGRESSION,
    THREE,
    adam,
    context,
    head_state,
    losses_of,
    make_batch,
    make_net,
    scalar_context,
    train_step,
)


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
