"""MGDA: the min-norm point of the convex hull; non-negative inner product with every task gradient."""

import itertools

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def test_direction_is_the_min_norm_point_of_the_convex_hull():
    matrix = random_jacobian(2).float()
    weights, direction = aggregate(build("mgda", epsilon=1e-6, max_iters=10_000), matrix)
    grid = [torch.tensor([a, b, 1 - a - b]) / 1.0 for a, b in itertools.product(torch.linspace(0, 1, 101), repeat=2)]
    best = min(float((w @ matrix).norm()) for w in grid if w[2] >= -1e-9)
    assert abs(float(direction.norm()) - best) < 1e-2 * max(best, 1e-3)
    assert weights.min() >= 0 and float(weights.sum()) == pytest_approx(1.0)


def pytest_approx(value):
    import pytest

    return pytest.approx(value, abs=1e-5)


def test_inner_product_with_every_task_gradient_is_non_negative():
    for seed in range(5):
        matrix = random_jacobian(seed)
        _, direction = aggregate(build("mgda", epsilon=1e-6, max_iters=10_000), matrix)
        assert (matrix.float() @ direction >= -1e-4 * direction.norm() ** 2).all()


def test_real_step_in_both_variants_descends_for_every_task():
    for on in ("shared", "representation"):
        matrix, shared_grad, weights, _ = real_step("mgda", on=on)
        direction = weights @ matrix
        assert (matrix @ direction >= -1e-6).all(), on
