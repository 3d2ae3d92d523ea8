"""FairGrad: the weights solve G w = w^(-1/α)."""

from tests.unit.gradient.common import aggregate, build, random_jacobian


def test_weights_solve_the_alpha_fair_condition():
    for alpha in (0.5, 1.0, 2.0):
        matrix = random_jacobian(8).float()
        weights, _ = aggregate(build("fairgrad", alpha=alpha), matrix)
        gramian = (matrix @ matrix.T).double()
        target = weights.double() ** (-1 / alpha)
        assert float((gramian @ weights.double() - target).norm() / target.norm()) < 1e-3
