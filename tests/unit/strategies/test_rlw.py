"""rlw: weights drawn from the paper's distributions with the run's generator; their long-run means; a resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchmark.api.strategy import StepContext
from strategies.rlw import DISTRIBUTIONS, RLW
from tests.unit.gradient.common import assert_bit_identical, resumed_equals_straight
from tests.unit.strategies.steps import REGRESSION, THREE

DRAWS = 4000


def losses_of(tasks) -> dict[str, torch.Tensor]:
    return {t.name: torch.tensor(float(i + 1)) for i, t in enumerate(tasks)}


def drawn(distribution: str, tasks=THREE, seed: int = 0, steps: int = DRAWS) -> torch.Tensor:
    """steps x T weights, as `combine` returns them, with one generator seeded ``seed`` across the steps."""
    strategy, generator, losses = (
        RLW(tasks, distribution=distribution),
        torch.Generator().manual_seed(seed),
        losses_of(tasks),
    )
    rows = []
    for step in range(steps):
        total, weights = strategy.combine(StepContext(losses, [], {}, nn.Identity(), step, 1, None, generator))
        row = torch.stack([weights[t.name] for t in tasks])
        torch.testing.assert_close(total, (row * torch.stack(list(losses.values()))).sum())
        rows.append(row)
    return torch.stack(rows)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_the_same_seed_draws_the_same_weights_and_another_seed_others(distribution):
    first, again = drawn(distribution, steps=50), drawn(distribution, steps=50)
    assert torch.equal(first, again)
    assert not torch.equal(first, drawn(distribution, seed=1, steps=50))
    distinct = first.unique(dim=0).shape[0]  # new weights each step (the Bernoulli forms have few possible rows)
    assert distinct == 50 if not distribution.endswith("bernoulli") else distinct > 1


def test_normal_is_the_softmax_of_a_standard_normal_draw_from_the_context_generator():
    generator = torch.Generator().manual_seed(7)
    expected = [torch.softmax(torch.randn(3, generator=generator), dim=0) for _ in range(5)]
    torch.testing.assert_close(drawn("normal", seed=7, steps=5), torch.stack(expected), rtol=0, atol=0)


def test_uniform_is_the_softmax_of_u01_draws():
    weights = drawn("uniform")
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(DRAWS))
    lowest, highest = 1 / (1 + 2 * math.e), math.e / (math.e + 2)  # softmax of values in [0, 1], T = 3
    assert weights.min() >= lowest and weights.max() <= highest
    assert weights.min() < lowest + 0.02 and weights.max() > highest - 0.02  # and it reaches both ends
    torch.testing.assert_close(weights.mean(dim=0), torch.full((3,), 1 / 3), rtol=0, atol=0.01)


def test_dirichlet_is_the_softmax_of_a_flat_dirichlet_draw():
    weights = drawn("dirichlet", REGRESSION)
    logits = weights.log()
    draw = logits - logits.mean(dim=1, keepdim=True) + 0.5  # softmax is shift-invariant and the draw sums to 1
    assert draw.min() >= -1e-5 and draw.max() <= 1 + 1e-5
    first = draw[:, 0]  # Dir(1, 1): the first coordinate is U(0, 1)
    assert abs(float(first.mean()) - 0.5) < 0.02
    assert abs(float(first.var()) - 1 / 12) < 0.006  # iid U(0, 1) softmaxed (uniform) would be a difference of two
    torch.testing.assert_close(weights.mean(dim=0), torch.full((2,), 0.5), rtol=0, atol=0.01)


def test_bernoulli_weights_are_zero_or_one_never_all_zero_each_task_in_4_of_7_steps():
    weights = drawn("bernoulli")
    assert set(weights.unique().tolist()) == {0.0, 1.0}
    assert (weights.sum(dim=1) >= 1).all()
    # P(task in | not all out) = (1/2) / (1 - 1/8) = 4/7 for three tasks (1/2 if all-zero draws were kept)
    torch.testing.assert_close(weights.mean(dim=0), torch.full((3,), 4 / 7), rtol=0, atol=0.025)


def test_constrained_bernoulli_trains_one_uniformly_chosen_task_per_step():
    weights = drawn("constrained_bernoulli")
    assert set(weights.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(weights.sum(dim=1), torch.ones(DRAWS))
    torch.testing.assert_close(weights.mean(dim=0), torch.full((3,), 1 / 3), rtol=0, atol=0.025)


def test_resumed_run_draws_the_same_weights_bit_identically():
    assert_bit_identical(*resumed_equals_straight("rlw"))
