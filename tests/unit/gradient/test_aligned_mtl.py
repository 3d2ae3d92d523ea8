"""Aligned-MTL: the aligned gradients' Gramian B G B has condition number 1; the weights are B times the mean."""

import torch
from torchjd.aggregation import AlignedMTLWeighting

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def check(matrix: torch.Tensor, weights: torch.Tensor) -> None:
    gramian = matrix @ matrix.T
    balance = AlignedMTLWeighting._compute_balance_transformation(gramian, "min")
    aligned = balance @ gramian @ balance
    assert torch.linalg.cond(aligned) < 1 + 1e-3
    assert torch.linalg.cond(gramian) > 2  # the test's matrices are not aligned to begin with
    expected = balance @ torch.full((len(matrix),), 1 / len(matrix), dtype=matrix.dtype)
    torch.testing.assert_close(weights, expected, rtol=1e-4, atol=1e-6)


def test_aligned_gramian_has_condition_number_one():
    for seed in range(3):
        matrix = random_jacobian(seed).float()
        weights, _ = aggregate(build("aligned_mtl"), matrix)
        check(matrix.double(), weights.double())


def test_real_step_in_both_variants():
    for on in ("shared", "representation"):
        matrix, _, weights, _ = real_step("aligned_mtl", on=on)
        check(matrix.double(), weights.double())
