"""db_mtl: each task's log-loss gradient enters the shared update with the norm of the largest one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.api.errors import MimoBenchError
from benchmark.api.strategy import StepContext
from strategies.db_mtl import DBMTL
from tests.unit.gradient.common import assert_bit_identical, resumed_equals_straight
from tests.unit.strategies.steps import REGRESSION

INPUTS = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.2, -1.0]])


def block_problem():
    """Shared W (2 x 3) whose row t only task t reads, so row t of W.grad is task t's contribution; a head
    scalar per task; the loss scales are 1 and 100, the gradients of the log-losses of different norms."""
    shared = nn.Parameter(torch.tensor([[0.2, -0.1, 0.4], [1.5, 0.7, -0.3]]))
    heads = {"a": nn.Parameter(torch.tensor(0.3)), "b": nn.Parameter(torch.tensor(-0.2))}
    return shared, heads


def losses_of(shared, heads, inputs=INPUTS) -> dict[str, torch.Tensor]:
    return {
        "a": (shared[0] @ inputs[0] + heads["a"]) ** 2 + 0.5,
        "b": 100.0 * ((shared[1] @ inputs[1] + heads["b"]) ** 2 + 2.0),
    }


def log_gradients(shared, heads, inputs=INPUTS) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Task t's d log(L_t) / d W (its row) and d log(L_t) / d head_t, each by its own autograd call."""
    found = {}
    for row, (name, loss) in enumerate(losses_of(shared, heads, inputs).items()):
        grad_shared, grad_head = torch.autograd.grad(torch.log(loss), [shared, heads[name]])
        assert not grad_shared[1 - row].any()  # the other row is untouched: contributions are separable
        found[name] = (grad_shared[row], grad_head)
    return found


def db_step(strategy: DBMTL, shared, heads, step: int, inputs=INPUTS) -> dict[str, torch.Tensor]:
    shared.grad = None
    for head in heads.values():
        head.grad = None
    losses = losses_of(shared, heads, inputs)
    ctx = StepContext(losses, [shared], {n: [h] for n, h in heads.items()}, nn.Identity(), step, 1)
    return strategy.backward(ctx)


def test_every_tasks_contribution_to_the_shared_grad_has_the_largest_norm_and_keeps_its_direction():
    shared, heads = block_problem()
    expected = log_gradients(shared, heads)
    norms = {name: grads[0].norm() for name, grads in expected.items()}
    assert norms["a"] > 2 * norms["b"]  # unequal: a plain sum would not pass the checks below
    weights = db_step(DBMTL(REGRESSION, beta=0.0), shared, heads, step=0)
    losses = {name: loss.detach() for name, loss in losses_of(shared, heads).items()}
    for row, name in enumerate(("a", "b")):
        contribution = shared.grad[row]
        torch.testing.assert_close(contribution.norm(), norms["a"])  # the max norm, for both tasks
        scale = norms["a"] / norms[name]
        torch.testing.assert_close(contribution, scale * expected[name][0])  # same direction, rescaled
        torch.testing.assert_close(heads[name].grad, expected[name][1])  # heads: plain grad of log L_t
        torch.testing.assert_close(weights[name], scale / losses[name])  # the multiplier of grad L_t


def test_the_ema_of_the_gradients_is_what_is_balanced():
    shared, heads = block_problem()
    strategy = DBMTL(REGRESSION, beta=0.5, beta_sigma=1.0)  # beta_k = 0.5 / k
    first = log_gradients(shared, heads)
    db_step(strategy, shared, heads, step=0)
    other_inputs = torch.tensor([[-0.4, 1.0, 2.0], [0.9, -0.6, 0.1]])
    second = log_gradients(shared, heads, other_inputs)
    weights = db_step(strategy, shared, heads, step=1, inputs=other_inputs)
    # step 1: ema = (1 - 0.5) g1; step 2 (beta_2 = 0.25): ema = 0.25 * 0.5 g1 + 0.75 g2
    ema = {name: 0.125 * first[name][0] + 0.75 * second[name][0] for name in ("a", "b")}
    largest = max(e.norm() for e in ema.values())
    losses = losses_of(shared, heads, other_inputs)
    for row, name in enumerate(("a", "b")):
        torch.testing.assert_close(shared.grad[row], largest / ema[name].norm() * ema[name])
        torch.testing.assert_close(weights[name], largest / ema[name].norm() * 0.75 / losses[name].detach())
    assert strategy.count.item() == 2


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("db_mtl"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"beta": 1.0}, r"beta must be a number in \[0, 1\), got 1.0"),
        ({"beta": -0.1}, r"beta must be a number in \[0, 1\)"),
        ({"beta_sigma": -1}, "beta_sigma must be a finite number >= 0, got -1"),
    ],
)
def test_bad_options_raise_a_clear_error(options, message):
    with pytest.raises(MimoBenchError, match=f"strategy 'db_mtl': {message}"):
        DBMTL(REGRESSION, **options)
