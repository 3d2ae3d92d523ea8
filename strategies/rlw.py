"""Random Loss Weighting: new random task weights every step (Lin et al., 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, choice_option

DISTRIBUTIONS = ("normal", "uniform", "dirichlet", "bernoulli", "constrained_bernoulli")


class RLW(LossWeighting):
    """Random loss weights: L = sum_t w_t L_t with w = f(x), x drawn afresh each step from a distribution.

    ``distribution`` and its normalisation f:
      * ``normal`` (default): x_t ~ N(0, 1), w = softmax(x);
      * ``uniform``: x_t ~ U(0, 1), w = softmax(x);
      * ``dirichlet``: x ~ Dir(1, ..., 1) (drawn as normalised exponentials -log(1 - u_t)), w = softmax(x);
      * ``bernoulli``: x_t ~ Bernoulli(1/2), a draw of all zeros drawn again, w = x (each task is in the
        step with probability 2^(K-1) / (2^K - 1));
      * ``constrained_bernoulli``: x one-hot at a uniformly drawn task (Bernoulli with sum_t x_t = 1), w = x.
    So the weights sum to 1 (on the simplex, as the paper's normalisation puts them) except for
    ``bernoulli``, whose 0/1 weights sum to the number of tasks drawn.  The sum-to-1 scale makes the
    total like a mean of the losses rather than `sum`'s sum: with Adam a constant scale of the loss
    hardly matters.  The effective weight logged is w_t.  Draws come from ``ctx.generator`` (the run's
    seeded, checkpointed strategy generator; torch's global one if none), on the CPU, then move to the
    losses' device, so a run is reproducible and resumes bit-identically.

    Lin, Ye, Zhang & Tsang, "Reasonable Effectiveness of Random Weighting: A Litmus Test for Multi-Task
    Learning", TMLR 2022 (arXiv:2111.10603): RLW (sample x, normalise it to w, weight the losses; Algorithm 2
    of the arXiv version), the standard normal with softmax being its default.  The other four
    distributions and every normalisation follow the first author's released code (LibMTL's RLW, with
    ``dist`` = Uniform, Normal, Dirichlet, Bernoulli, constrained_Bernoulli): softmax for normal, uniform
    and Dirichlet, none for the two Bernoulli forms.
    Not torchjd's ``scalarization.Random``: it draws from torch's global generator (not ``ctx.generator``)
    and offers the normal distribution only.
    Deviations: none in the draws offered; a normal draw with a random mean and standard deviation per
    run (in some versions of the authors' code) is not offered.
    Search space: ``distribution`` over all five.
    """

    name = "rlw"
    step_cost_target = 1.05

    def __init__(self, tasks: Sequence[TaskSpec], *, distribution: str = "normal"):
        super().__init__(tasks)
        self.distribution = choice_option(self.owner, "distribution", distribution, DISTRIBUTIONS)

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        weights = self.draw(ctx.generator).to(device=losses.device, dtype=losses.dtype)
        return (weights * losses).sum(), dict(zip(self.task_names, weights, strict=True))

    def draw(self, generator: torch.Generator | None) -> torch.Tensor:
        """One weight vector (float32, on the CPU) from the configured distribution."""
        count = len(self.task_names)
        if self.distribution == "normal":
            return torch.softmax(torch.randn(count, generator=generator), dim=0)
        if self.distribution == "uniform":
            return torch.softmax(torch.rand(count, generator=generator), dim=0)
        if self.distribution == "dirichlet":
            # Exp(1) = Gamma(1) draws from u in [0, 1); torch's own gamma sampler takes no generator
            exponentials = -torch.log1p(-torch.rand(count, generator=generator))
            return torch.softmax(exponentials / exponentials.sum(), dim=0)
        if self.distribution == "bernoulli":
            while True:
                included = torch.rand(count, generator=generator) < 0.5
                if included.any():
                    return included.float()
        chosen = torch.randint(count, (1,), generator=generator)
        return torch.zeros(count).index_fill_(0, chosen, 1.0)

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {"distribution": trial.suggest_categorical("distribution", list(DISTRIBUTIONS))}
