"""Homoscedastic uncertainty weighting: a learned log-variance per task (Kendall et al., 2018)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, float_option, task_table


class Uncertainty(LossWeighting):
    """Learned uncertainty weights: L = sum_t c_t exp(-s_t) L_t + s_t / 2, s_t = log sigma_t^2 learned.

    c_t = 1/2 for regression tasks (the Gaussian likelihood, 1/(2 sigma^2) L + log sigma) and c_t = 1
    for classification tasks (the tempered softmax, 1/sigma^2 L + log sigma), with log sigma = s/2.
    The effective weight logged is c_t exp(-s_t), the multiplier of L_t.  At the optimum over s_t,
    exp(s_t) = L_t (regression) or 2 L_t (classification), so a noisier task gets a smaller weight.

    Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry
    and Semantics", CVPR 2018: Eq. 7 (regression) and Eq. 10 (classification); parametrised, as the
    paper does in practice, by s = log sigma^2 for numerical stability.
    Deviations: L_t is the harness's batch-mean loss (MSE averaged over samples, cross-entropy averaged
    over samples), not the per-sample negative log-likelihood sum, so sigma_t^2 estimates the mean
    squared error per sample; the s_t are stepped by the trainer's Adam (own ``lr`` if set, else the
    network's; no weight decay) rather than the paper's optimiser.  ``init_log_variance`` (a number or a
    table keyed by task) sets s_t(0); the paper starts from 0.
    Not torchjd's ``scalarization.UW``: it weighs every task by exp(-s)/2, the regression form, so a
    classification task would get half the paper's weight (Eq. 10), and it has no per-task initial s_t.
    Search space: ``lr`` log-uniform in [1e-4, 1e-1].
    Variants override `likelihood_factors` (c_t) and `regulariser` (s_t / 2 here): see `uncertainty_reg`.
    """

    name = "uncertainty"
    step_cost_target = 1.05

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        init_log_variance: float | Mapping[str, float] = 0.0,
        lr: float | None = None,
    ):
        super().__init__(tasks)
        if isinstance(init_log_variance, Mapping):
            self.init_log_variance = task_table(
                self.owner, "init_log_variance", init_log_variance, self.task_names, minimum=None
            )
            initial = self.init_log_variance
        else:
            self.init_log_variance = float_option(
                self.owner, "init_log_variance", init_log_variance, "a finite number (a log-variance)", math.isfinite
            )
            initial = dict.fromkeys(self.task_names, self.init_log_variance)
        self.lr = (
            None if lr is None else float_option(self.owner, "lr", lr, "a positive number or None", lambda v: v > 0)
        )
        self.log_variance = torch.nn.Parameter(torch.tensor([float(initial[n]) for n in self.task_names]))
        self.register_buffer("likelihood_factor", torch.tensor(self.likelihood_factors()), persistent=False)

    def likelihood_factors(self) -> list[float]:
        """c_t per task: 1/2 for regression (Eq. 7), 1 for classification (Eq. 10)."""
        return [0.5 if task.kind == "regression" else 1.0 for task in self.tasks]

    def regulariser(self, log_variance: torch.Tensor) -> torch.Tensor:
        """The term that keeps sigma_t from growing without bound: log sigma_t = s_t / 2."""
        return 0.5 * log_variance

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        weights = self.likelihood_factor * torch.exp(-self.log_variance)
        total = (weights * losses + self.regulariser(self.log_variance)).sum()
        return total, dict(zip(self.task_names, weights.detach(), strict=True))

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True)}
