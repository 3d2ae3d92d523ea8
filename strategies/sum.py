"""Equal weighting: the plain sum of the task losses."""

from __future__ import annotations

import torch

from benchmark.api import LossWeighting, StepContext, TaskWeights


class Sum(LossWeighting):
    """Equal weights: back-propagate L = sum_t L_t (the usual multi-task baseline)."""

    name = "sum"
    baseline = True

    def __init__(self, tasks):
        super().__init__(tasks)
        self.register_buffer("ones", torch.ones(len(tasks)), persistent=False)

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        total = torch.stack([ctx.losses[name] for name in self.task_names]).sum()
        return total, dict(zip(self.task_names, self.ones, strict=True))
