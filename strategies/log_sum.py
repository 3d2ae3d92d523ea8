"""Scale-invariant sum: the sum of the log task losses (the SI baseline of Navon et al., 2022)."""

from __future__ import annotations

import torch

from benchmark.api import LossWeighting, StepContext, TaskWeights


class LogSum(LossWeighting):
    """Scale-invariant loss: L = sum_t log L_t; effective weight dL/dL_t = 1 / L_t.

    log(c L_t) = log c + log L_t, so multiplying any task's loss by a constant c > 0 leaves the gradient,
    and hence the update, unchanged: no task dominates by the scale of its units.  The gradient is
    sum_t grad L_t / L_t, the direction of `gls` (which scales it by the geometric mean over T).  The
    effective weight logged is 1 / sg(L_t).

    Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, "Multi-Task Learning as a Bargaining
    Game", ICML 2022 (Nash-MTL): the scale-invariant (SI) baseline of its experiments, which minimises
    sum_t log l_t.
    torchjd has no scalarizer for it (its ``GeometricMean`` is exp(mean log L_t), a different scale).
    Deviations: none; the log of a loss of exactly 0 is -inf (the trainer then stops the run).
    No hyperparameters (search space empty).
    """

    name = "log_sum"
    step_cost_target = 1.05

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        weights = losses.detach().reciprocal()
        return losses.log().sum(), dict(zip(self.task_names, weights, strict=True))
