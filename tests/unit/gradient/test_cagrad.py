"""CAGrad: c = 0 gives the mean; c > 0 stays in the ball around the mean and raises the worst improvement."""

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def test_c_zero_is_the_mean():
    matrix = random_jacobian(5)
    _, direction = aggregate(build("cagrad", c=0.0), matrix)
    torch.testing.assert_close(direction, matrix.float().mean(0))


def test_within_the_ball_and_no_worse_for_the_worst_task():
    matrix = random_jacobian(6).float()
    mean = matrix.mean(0)
    _, direction = aggregate(build("cagrad", c=0.5), matrix)
    assert (direction - mean).norm() <= 0.5 * mean.norm() * 1.001
    assert (matrix @ direction).min() > (matrix @ mean).min()


def test_real_step_with_c_zero_is_the_mean_gradient():
    matrix, shared_grad, _, _ = real_step("cagrad", c=0.0)
    torch.testing.assert_close(shared_grad, matrix.mean(0), rtol=1e-4, atol=1e-7)
