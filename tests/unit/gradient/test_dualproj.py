"""DualProj: the mean projected onto the dual cone: no conflict with any task gradient, the mean if none."""

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def test_no_conflict_with_any_task_gradient_and_closest_to_the_mean():
    for seed in range(5):
        matrix = random_jacobian(seed).float()
        _, direction = aggregate(build("dualproj"), matrix)
        cosines = (matrix @ direction) / (matrix.norm(dim=1) * direction.norm())
        assert (cosines >= -1e-2).all()  # torchjd regularises the dual problem (reg_eps) slightly
        mean = matrix.mean(0)
        if (matrix @ mean < 0).any():
            assert (direction - mean).norm() > 0  # it had to move


def test_without_conflict_it_is_the_mean():
    matrix = random_jacobian(4, conflict=False)
    _, direction = aggregate(build("dualproj"), matrix)
    torch.testing.assert_close(direction, matrix.float().mean(0), rtol=1e-4, atol=1e-5)


def test_real_step_does_not_conflict():
    matrix, shared_grad, _, _ = real_step("dualproj")
    cosines = (matrix @ shared_grad) / (matrix.norm(dim=1) * shared_grad.norm())
    assert (cosines >= -0.05).all()  # the small tasks' rows are ~1e-2 of the large one's: reg_eps shows more
    assert (cosines[:1] > 0).all()
