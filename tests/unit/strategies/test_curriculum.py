"""Curriculum: weight 0 before a task's entry, a linear ramp, full weight after it; auto order from val."""

from __future__ import annotations

import pytest
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import TaskSpec
from benchmark.train.trainer import to_device
from strategies.curriculum import Curriculum
from tests.unit.gradient.common import assert_bit_identical, glyphs_trainer, resumed_equals_straight
from tests.unit.strategies.steps import THREE, context, losses_of, make_batch, make_net

CLASSES = (TaskSpec("a", "classification", num_classes=3), TaskSpec("b", "classification", num_classes=2))


def test_given_order_enters_each_task_at_its_epoch_and_ramps_it_in():
    strategy = Curriculum(THREE, order=["c", "a", "b"], stagger=2, ramp=2)  # c at 1, a at 3, b at 5
    expected = {  # epoch -> (a, b, c), by hand from min(1, (e - E + 1) / ramp)
        1: (0, 0, 0.5),
        2: (0, 0, 1),
        3: (0.5, 0, 1),
        4: (1, 0, 1),
        5: (1, 0.5, 1),
        6: (1, 1, 1),
    }
    for epoch, weights in expected.items():
        assert strategy.weights(epoch).tolist() == list(weights), epoch


def test_a_task_not_yet_entered_gets_no_gradient_and_the_rest_their_weighted_one():
    net = make_net(THREE)
    losses = losses_of(net, THREE, *make_batch(THREE))
    want = torch.autograd.grad(0.5 * losses["b"], net.shared_parameters(), retain_graph=True)
    weights = Curriculum(THREE, order=["b", "a", "c"], ramp=2).backward(context(net, losses))  # epoch 1: b at 1/2
    assert [float(weights[n]) for n in "abc"] == [0.0, 0.5, 0.0]
    for parameter, expected in zip(net.shared_parameters(), want, strict=True):
        torch.testing.assert_close(parameter.grad, expected)
    assert all(p.grad is None for p in net.task_parameters()["a"] + net.task_parameters()["c"])


def test_auto_probes_waiting_heads_without_touching_the_shared_gradient():
    net = make_net(THREE)
    losses = losses_of(net, THREE, *make_batch(THREE))
    shared, heads = net.shared_parameters(), net.task_parameters()
    want_shared = torch.autograd.grad(losses["a"], shared, retain_graph=True)  # epoch 1: task order, a first
    want_head_b = torch.autograd.grad(losses["b"], heads["b"], retain_graph=True)
    Curriculum(THREE).backward(context(net, losses))
    for parameter, want in zip(shared, want_shared, strict=True):
        torch.testing.assert_close(parameter.grad, want)
    for parameter, want in zip(heads["b"], want_head_b, strict=True):
        torch.testing.assert_close(parameter.grad, want)


def test_auto_enters_the_task_furthest_above_chance_on_val():
    strategy = Curriculum((*CLASSES, TaskSpec("r", "regression")))
    assert strategy.weights(1).tolist() == [1, 0, 0]  # no val metric yet: task order
    # scores by hand: a is entered; b: (0.7 - 1/2) / (1/2) = 0.4; r: 1 - mae / mae_first = 0 at epoch 1
    strategy.end_epoch(1, {}, {"val/a/accuracy": 0.9, "val/b/accuracy": 0.7, "val/r/mae": 2.0})
    assert strategy.weights(2).tolist() == [1, 1, 0]
    # r improves to mae 0.5: 1 - 0.5 / 2 = 0.75 > b's 0.4, but only r is left anyway; it enters at epoch 3
    strategy.end_epoch(2, {}, {"val/a/accuracy": 0.9, "val/b/accuracy": 0.7, "val/r/mae": 0.5})
    assert strategy.score.tolist() == pytest.approx([0.85, 0.4, 0.75])
    assert strategy.weights(3).tolist() == [1, 1, 1]
    assert strategy.epoch_metrics() == {"entry_epoch/a": 1.0, "entry_epoch/b": 2.0, "entry_epoch/r": 3.0}


def test_auto_prefers_the_higher_score_among_the_waiting():
    strategy = Curriculum((*CLASSES, TaskSpec("c", "classification", num_classes=4)))
    strategy.weights(1)
    strategy.end_epoch(1, {}, {"val/a/accuracy": 0.5, "val/b/accuracy": 0.6, "val/c/accuracy": 0.7})
    # b: (0.6 - 0.5) / 0.5 = 0.2; c: (0.7 - 0.25) / 0.75 = 0.6, so c enters before b
    assert strategy.weights(2).tolist() == [1, 0, 1]


def test_an_order_that_misses_a_task_is_refused_naming_the_tasks():
    with pytest.raises(
        MimoBenchError, match=r"order must be 'auto' or a list naming every task once \['a', 'b', 'c'\]"
    ):
        Curriculum(THREE, order=["a", "b"])


@pytest.mark.parametrize("order", ["auto", ["slant", "character", "alphabet"]])
def test_resume_is_bit_identical(order):
    assert_bit_identical(*resumed_equals_straight("curriculum", order=order))


def test_a_step_taken_before_the_first_epoch_counts_as_epoch_1():
    """`mimo-bench perf` steps a Trainer before any epoch: the first task must already train (it crashed)."""
    trainer = glyphs_trainer("curriculum")
    trainer.step(to_device(trainer.train_split.subset(torch.arange(8)), trainer.device))
    assert trainer.step_count == 1
