"""GradVac: with its zero initial targets a conflicting pair is lifted to cosine 0 (PCGrad's projection), the EMA
moves the targets, and a resumed run continues bit-identically."""

import torch

from tests.unit.gradient.common import (
    TWO,
    aggregate,
    assert_bit_identical,
    build,
    random_jacobian,
    resumed_equals_straight,
)
from tests.unit.gradient.test_pcgrad import projected_pair


def test_first_step_lifts_a_conflicting_pair_to_its_zero_target_and_moves_the_target():
    matrix = random_jacobian(1, tasks=2)
    strategy = build("gradvac", TWO, beta=0.5)
    _, direction = aggregate(strategy, matrix)
    torch.testing.assert_close(direction, projected_pair(matrix).float(), rtol=1e-4, atol=1e-5)
    cosine = torch.nn.functional.cosine_similarity(matrix[0], matrix[1], dim=0).float()
    torch.testing.assert_close(strategy.method._phi_t[0, 1], 0.5 * cosine)  # halfway (beta = 0.5) to the cosine


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("gradvac"))
