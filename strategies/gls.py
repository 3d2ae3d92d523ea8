"""Geometric Loss Strategy: the geometric mean of the task losses (Chennupati et al., 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchjd.scalarization import GeometricMean

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights


class GLS(LossWeighting):
    """Geometric loss: L = (prod_t L_t)^(1/T), T tasks; effective weight dL/dL_t = L / (T L_t).

    A task's weight is inversely proportional to its own loss, so rescaling one loss (e.g. changing its
    units) rescales the total but not the direction of the update, and a task that has converged
    (small L_t) is pushed harder than in `sum`.  The gradient is (L / T) sum_t grad L_t / L_t, i.e.
    `log_sum`'s direction times L / T.  The effective weight logged is sg(L) / (T sg(L_t)).

    Chennupati, Sistu, Yogamani & Rawashdeh, "MultiNet++: Multi-Stream Feature Aggregation and Geometric
    Loss Strategy for Multi-Task Learning", CVPR Workshops 2019: the geometric loss strategy (the
    product of the task losses to the power 1/T).
    The loss is torchjd's ``scalarization.GeometricMean`` (exp of the mean of log L_t), as is.
    Deviations: none; a loss of exactly 0 makes the total 0 and its weights non-finite (the trainer then
    stops the run), and torchjd raises for a negative loss.
    No hyperparameters (search space empty).
    """

    name = "gls"
    step_cost_target = 1.05

    def __init__(self, tasks: Sequence[TaskSpec]):
        super().__init__(tasks)
        self.geometric_mean = GeometricMean()

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        total = self.geometric_mean(losses)
        weights = total.detach() / (len(self.task_names) * losses.detach())
        return total, dict(zip(self.task_names, weights, strict=True))
