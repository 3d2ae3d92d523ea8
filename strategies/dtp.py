"""Dynamic Task Prioritization: focal-loss weights from each task's smoothed KPI (Guo et al., 2018)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, float_option, task_table

KPI_FLOOR = 1e-3  # a KPI of 0 would give an infinite weight (-log 0); floored here, so the weight is at most ~6.9


class DTP(LossWeighting):
    """DTP: L = sum_t w_t L_t, w_t = -(1 - k_t)^gamma_t log k_t, k_t the task's smoothed KPI in [0, 1].

    The focal-loss form gives a task the more weight the worse it performs (w_t falls from -log k_t to 0
    as k_t rises to 1; gamma_t >= 0 sets how fast an easy task is let go).  KPIs come from each epoch's
    validation metrics (`end_epoch`): a classification task's accuracy; a regression task's
    exp(-MAE_t / s_t), s_t its declared target scale (``TaskSpec.output_scale``), 1 for a perfect fit and
    exp(-1) at an error of one scale unit.  k_t = alpha kpi_t + (1 - alpha) k_t (the first KPI as is),
    floored at 1e-3.  The weights are 1 until the first epoch's validation metrics exist; they change once
    per epoch and are constants for the net (the effective weight logged is w_t).

    Guo, Haque, Huang, Yeung & Fei-Fei, "Dynamic Task Prioritization for Multitask Learning", ECCV 2018:
    task-level prioritisation, the loss sum_t FL(k_t; gamma_t) L_t with FL(k; gamma) = -(1 - k)^gamma log k
    and k_t the moving average of the task's KPI with discount alpha.  ``gamma`` is a number or a table
    keyed by task (the paper's per-task gamma_t); its default 1 is this harness's choice, not a value
    checked against the paper's experiments.
    Deviations:
      * KPIs are validation metrics once per epoch, not running values during training: the harness
        gives a strategy its metrics per epoch only, and val metrics measure performance rather than fit.
      * The paper's KPIs are scores in [0, 1] (accuracy, average precision); it gives none for a regression
        task.  exp(-MAE / s_t) is this harness's mapping, and it depends on the declared scale s_t.
      * ``alpha = 0.9`` (the weight of the newest KPI) is this harness's default: each KPI is already a mean
        over the val split, so the smoothing is light.  The KPI floor is this harness's too.
      * Only the task-level prioritisation: the paper's example-level focal loss inside each task and its
        network-structure choices are not part of a loss weighting.
    The smoothed KPIs and the weights are checkpointed, so a resumed run continues bit-identically.
    Search space: gamma uniform in [0, 4] (one value for all tasks), alpha uniform in [0.1, 1].
    """

    name = "dtp"
    step_cost_target = 1.05

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        gamma: float | Mapping[str, float] = 1.0,
        alpha: float = 0.9,
    ):
        super().__init__(tasks)
        if isinstance(gamma, Mapping):
            self.gamma = task_table(self.owner, "gamma", gamma, self.task_names)
            focusing = [self.gamma[n] for n in self.task_names]
        else:
            self.gamma = float_option(self.owner, "gamma", gamma, "a finite number >= 0", lambda v: v >= 0)
            focusing = [self.gamma] * len(self.task_names)
        self.alpha = float_option(self.owner, "alpha", alpha, "a number in (0, 1]", lambda v: 0 < v <= 1)
        self.register_buffer("focusing", torch.tensor(focusing), persistent=False)
        self.register_buffer("kpi", torch.full((len(self.task_names),), math.nan))  # NaN: none seen yet
        self.register_buffer("task_weights", torch.ones(len(self.task_names)))

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        return (self.task_weights * losses).sum(), dict(zip(self.task_names, self.task_weights.clone(), strict=True))

    @torch.no_grad()
    def end_epoch(self, epoch: int, train_losses: Mapping[str, float], val_metrics: Mapping[str, float]) -> None:
        latest = torch.tensor([self.task_kpi(task, val_metrics) for task in self.tasks], device=self.kpi.device)
        smoothed = self.alpha * latest + (1.0 - self.alpha) * self.kpi
        self.kpi.copy_(torch.where(self.kpi.isnan(), latest, smoothed).clamp(KPI_FLOOR, 1.0))
        self.task_weights.copy_(-((1.0 - self.kpi) ** self.focusing) * self.kpi.log())

    @staticmethod
    def task_kpi(task: TaskSpec, val_metrics: Mapping[str, float]) -> float:
        """The task's KPI in [0, 1] from ``val/<task>/<metric>``: accuracy, or exp(-MAE / output_scale)."""
        metric = "accuracy" if task.kind == "classification" else "mae"
        value = val_metrics[f"val/{task.name}/{metric}"]
        return value if task.kind == "classification" else math.exp(-value / task.output_scale)

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {
            "gamma": trial.suggest_float("gamma", 0.0, 4.0),
            "alpha": trial.suggest_float("alpha", 0.1, 1.0),
        }
