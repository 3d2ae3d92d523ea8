"""GradDrop: coordinates where every task agrees in sign keep the sum; elsewhere one sign's sum, drawn from the
step generator."""

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian, real_step


def test_agreeing_signs_keep_the_sum_and_mixed_signs_keep_one_sides_sum():
    matrix = random_jacobian(7).float()
    strategy = build("graddrop")
    _, direction = aggregate(strategy, matrix)
    positive, negative = matrix.clamp(min=0).sum(0), matrix.clamp(max=0).sum(0)
    agree = (matrix > 0).all(0) | (matrix < 0).all(0)
    torch.testing.assert_close(direction[agree], matrix.sum(0)[agree])
    assert ((direction - positive).abs().lt(1e-6) | (direction - negative).abs().lt(1e-6)).all()
    assert (~agree).any()


def test_the_draw_follows_the_step_generator():
    assert torch.equal(real_step("graddrop", on="representation")[1], real_step("graddrop", on="representation")[1])
