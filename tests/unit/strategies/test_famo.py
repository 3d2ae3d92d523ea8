"""famo: the convex combination z_t / (c D_t), and xi learning toward the task whose loss fell least."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.api.errors import MimoBenchError
from strategies.famo import FAMO
from tests.unit.gradient.common import assert_bit_identical, resumed_equals_straight
from tests.unit.strategies.steps import REGRESSION, scalar_context


def famo_step(strategy: FAMO, optimizer: torch.optim.Optimizer, losses: list[float], step: int):
    """One step as the trainer runs it on given loss values: returns the weights and dL/dL_t of the total."""
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in zip(("a", "b"), losses, strict=True)}
    optimizer.zero_grad(set_to_none=True)
    weights = strategy.backward(scalar_context(leaves, step))
    optimizer.step()
    strategy.after_step()
    return torch.stack([weights["a"], weights["b"]]), torch.stack([leaves["a"].grad, leaves["b"].grad])


def optimizer_for(strategy: FAMO) -> torch.optim.Adam:
    return torch.optim.Adam(strategy.parameter_groups(1e-3))


def test_weights_are_the_convex_combination_of_the_gradient_of_the_log_objective():
    strategy = FAMO(REGRESSION, min_loss={"a": 0.0, "b": 1.0})
    weights, gradient = famo_step(strategy, optimizer_for(strategy), [1.0, 5.0], step=0)
    # z = (1/2, 1/2), D = (1, 4): c = 1/2 + 1/8 = 5/8, w = z / (c D) = (0.8, 0.2)
    torch.testing.assert_close(weights, torch.tensor([0.8, 0.2]))
    torch.testing.assert_close(gradient, weights)  # the net's gradient is sum_t w_t grad L_t
    assert strategy.logits.grad is None  # no earlier losses yet: xi has nothing to learn from


def test_xi_moves_the_weight_toward_the_task_whose_loss_decreased_least():
    strategy = FAMO(REGRESSION, lr=0.025, gamma=0.0)
    optimizer = optimizer_for(strategy)
    famo_step(strategy, optimizer, [1.0, 1.0], step=0)
    famo_step(strategy, optimizer, [0.5, 0.9], step=1)  # a's log-loss fell by log 2, b's by log(1/0.9)
    fall = torch.tensor([math.log(2.0), math.log(1 / 0.9)])
    # the gradient of xi: z * (delta - <z, delta>) with z = (1/2, 1/2); Adam's first step is lr * sign
    torch.testing.assert_close(strategy.logits.grad, 0.25 * (fall - fall.flip(0)))
    torch.testing.assert_close(strategy.logits.detach(), torch.tensor([-0.025, 0.025]))
    weights, _ = famo_step(strategy, optimizer, [1.0, 1.0], step=2)  # equal losses: w = softmax(xi)
    torch.testing.assert_close(weights, torch.softmax(torch.tensor([-0.025, 0.025]), dim=0))
    assert weights[1] > weights[0]


def test_xi_takes_the_weight_decay_gamma_and_its_own_lr():
    (group,) = FAMO(REGRESSION, lr=0.01, gamma=0.002).parameter_groups(1e-3)
    assert group["lr"] == 0.01 and group["weight_decay"] == 0.002 and len(group["params"]) == 1


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("famo"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": 0.0}, "lr must be a positive number, got 0.0"),
        ({"gamma": -1e-3}, "gamma must be a finite number >= 0"),
        ({"epsilon": 0}, "epsilon must be a positive number"),
        ({"min_loss": math.inf}, "min_loss must be a finite number"),
        ({"min_loss": {"a": 0.0}}, r"min_loss is missing task\(s\) \['b'\]"),
    ],
)
def test_bad_options_raise_a_clear_error(options, message):
    with pytest.raises(MimoBenchError, match=f"strategy 'famo': {message}"):
        FAMO(REGRESSION, **options)
