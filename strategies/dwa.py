"""Dynamic Weight Averaging: weights from how fast each task's epoch loss falls (Liu, Johns & Davison, 2019)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, float_option
from strategies.normalized import MIN_SCALE


class DWA(LossWeighting):
    """Dynamic Weight Averaging: L = sum_k w_k L_k, w_k(t) = K softmax_k(r(t-1) / T), r_k = L_k(t-1) / L_k(t-2).

    L_k(t) is task k's mean train loss over epoch t (the trainer's epoch mean, given to `end_epoch`),
    r_k(t-1) its relative descending rate and T = ``temperature`` (larger T, more uniform weights).  The
    weights are fixed for a whole epoch; they sum to K = the number of tasks; w_k = 1 in epochs 1 and 2,
    before two epoch means exist.  The effective weight logged is w_k.

    Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019: the Dynamic Weight
    Average section's weight formula (lambda_k(t) there), T = 2 as in the paper's experiments.
    Not torchjd's ``scalarization.DWA``: that one sums every batch's losses itself and keeps its epoch
    history in plain attributes outside ``state_dict``, so a resumed run would restart at uniform weights;
    here the epoch means come from `end_epoch` and the state (L_k(t-1) and the current w) is two buffers,
    so a checkpoint resumes bit-identically.
    Deviations: L_k(t-2) is floored at 1e-12, so a task whose epoch loss is exactly 0 gives a finite rate.
    Search space: ``temperature`` log-uniform in [0.1, 10] (with rates near 1, T = 2 gives weights within
    a few percent of 1; a smaller T makes them differ).
    """

    name = "dwa"
    step_cost_target = 1.05

    def __init__(self, tasks: Sequence[TaskSpec], *, temperature: float = 2.0):
        super().__init__(tasks)
        self.temperature = float_option(
            self.owner, "temperature", temperature, "a positive finite number", lambda v: v > 0
        )
        count = len(self.task_names)
        self.register_buffer("weight_vector", torch.ones(count))
        self.register_buffer("last_epoch_loss", torch.full((count,), math.nan))  # L_k(t-1); NaN before epoch 1

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        return (self.weight_vector * losses).sum(), dict(zip(self.task_names, self.weight_vector, strict=True))

    @torch.no_grad()
    def end_epoch(self, epoch: int, train_losses: Mapping[str, float], val_metrics: Mapping[str, float]) -> None:
        current = torch.tensor([train_losses[n] for n in self.task_names], device=self.last_epoch_loss.device)
        previous = self.last_epoch_loss
        if not previous.isnan().any():  # from the end of epoch 2 on: weights for the next epoch
            rates = current / previous.clamp_min(MIN_SCALE)
            self.weight_vector.copy_(len(self.task_names) * torch.softmax(rates / self.temperature, dim=0))
        self.last_epoch_loss.copy_(current)

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {"temperature": trial.suggest_float("temperature", 0.1, 10.0, log=True)}
