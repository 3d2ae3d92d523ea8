"""IMTL-G: the aggregate has equal projections onto the unit task gradients; the weights sum to 1."""

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def equal_unit_projections(matrix: torch.Tensor, direction: torch.Tensor) -> None:
    projections = (matrix @ direction) / matrix.norm(dim=1)
    torch.testing.assert_close(projections, projections.mean().expand(len(projections)), rtol=1e-3, atol=1e-6)


def test_equal_projections_onto_unit_task_gradients():
    for seed in range(4):
        matrix = random_jacobian(seed).float()
        weights, direction = aggregate(build("imtl_g"), matrix)
        equal_unit_projections(matrix, direction)
        torch.testing.assert_close(weights.sum(), torch.tensor(1.0))


def test_real_step_in_both_variants():
    for on in ("shared", "representation"):
        matrix, _, weights, _ = real_step("imtl_g", on=on)
        equal_unit_projections(matrix.double(), weights.double() @ matrix.double())
