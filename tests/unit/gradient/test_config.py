"""ConFIG: equal projections onto the unit task gradients, all non-negative, scaled by Σ <g_t, u>."""

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def check(matrix: torch.Tensor, direction: torch.Tensor) -> None:
    unit_projections = (matrix @ direction) / matrix.norm(dim=1)
    assert (unit_projections >= 0).all()
    torch.testing.assert_close(unit_projections, unit_projections.mean().expand(len(matrix)), rtol=1e-3, atol=1e-6)
    unit = direction / direction.norm()
    torch.testing.assert_close(direction.norm(), (matrix @ unit).sum(), rtol=1e-4, atol=1e-6)


def test_conflict_free_with_equal_unit_projections():
    for seed in range(3):
        matrix = random_jacobian(seed).float()
        weights, direction = aggregate(build("config"), matrix)
        check(matrix, direction)
        torch.testing.assert_close(weights, (matrix @ direction) / (matrix * matrix).sum(1))  # projection weights


def test_real_step():
    matrix, shared_grad, _, _ = real_step("config")
    check(matrix.double(), shared_grad.double())
