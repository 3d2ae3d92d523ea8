"""PCGrad: no conflict gives the plain sum; a conflicting pair is projected onto each other's normal planes."""

import torch

from tests.unit.gradient.common import TWO, aggregate, build, random_jacobian, real_step


def projected_pair(matrix: torch.Tensor) -> torch.Tensor:
    g1, g2 = matrix
    dot = g1 @ g2
    if dot >= 0:
        return g1 + g2
    return (g1 - dot / (g2 @ g2) * g2) + (g2 - dot / (g1 @ g1) * g1)


def test_without_conflict_the_direction_is_the_plain_sum():
    matrix = random_jacobian(0, conflict=False)
    weights, direction = aggregate(build("pcgrad"), matrix)
    torch.testing.assert_close(direction, matrix.float().sum(0))
    torch.testing.assert_close(weights, torch.ones(3))


def test_a_conflicting_pair_is_projected_onto_each_others_normal_plane():
    matrix = random_jacobian(1, tasks=2)
    assert matrix[0] @ matrix[1] < 0
    _, direction = aggregate(build("pcgrad", TWO), matrix)
    torch.testing.assert_close(direction, projected_pair(matrix).float(), rtol=1e-5, atol=1e-6)


def test_real_step_projects_the_real_task_gradients():
    matrix, shared_grad, _, _ = real_step("pcgrad", tasks=TWO)
    torch.testing.assert_close(shared_grad, projected_pair(matrix.double()).float(), rtol=1e-4, atol=1e-6)
