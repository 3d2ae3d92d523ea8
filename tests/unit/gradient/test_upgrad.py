"""UPGrad: the result does not conflict with any task gradient; without conflict it is the mean."""

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def test_no_conflict_with_any_task_gradient():
    for seed in range(5):
        matrix = random_jacobian(seed)
        _, direction = aggregate(build("upgrad"), matrix)
        assert (matrix.float() @ direction >= -1e-4).all()
        assert direction.norm() > 0


def test_without_conflict_it_is_the_mean():
    matrix = random_jacobian(3, conflict=False)
    _, direction = aggregate(build("upgrad"), matrix)
    torch.testing.assert_close(direction, matrix.float().mean(0), rtol=1e-4, atol=1e-5)


def test_real_step_does_not_conflict():
    for on in ("shared", "representation"):
        matrix, shared_grad, weights, _ = real_step("upgrad", on=on)
        assert (matrix @ (weights @ matrix) >= -1e-5).all(), on
