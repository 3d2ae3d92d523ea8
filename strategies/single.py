"""The single-task reference: one net per task, each trained on its own loss alone."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights


class Single(LossWeighting):
    """Single-task baseline: T separate nets, net t trained on L_t alone (the reference for Δm%).

    A pseudo-strategy: it declares ``separate_nets``, so the runner builds one net per task (its
    encoders, trunk and that task's head only; same inputs, seed and splits) and trains each with
    this strategy on that one task's loss, weight 1.  Within one net (as the conformance tests use
    it) it is the plain sum.  Its cost is T nets.
    """

    name = "single"
    separate_nets = True

    def __init__(self, tasks: Sequence[TaskSpec]):
        super().__init__(tasks)
        self.register_buffer("ones", torch.ones(len(tasks)), persistent=False)

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        total = torch.stack([ctx.losses[name] for name in self.task_names]).sum()
        return total, dict(zip(self.task_names, self.ones, strict=True))
