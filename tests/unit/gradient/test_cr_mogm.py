"""CR-MOGM: λ_k = α λ_{k-1} + (1 - α) λ̂_k over the base method's weights."""

import torch

from tests.unit.gradient.common import aggregate, build, random_jacobian


def test_weights_are_the_moving_average_of_the_base_methods():
    smoothed, base = build("cr_mogm", alpha=0.8), build("mgda")
    first, second = random_jacobian(1), random_jacobian(2)
    weights_1, _ = aggregate(smoothed, first)
    weights_2, _ = aggregate(smoothed, second)
    base_1, base_2 = aggregate(base, first)[0], aggregate(base, second)[0]
    torch.testing.assert_close(weights_1, base_1)
    torch.testing.assert_close(weights_2, 0.8 * base_1 + 0.2 * base_2)
    assert not torch.allclose(base_1, base_2)
