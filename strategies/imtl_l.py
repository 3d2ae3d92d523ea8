"""IMTL-L: learned loss scales that make every scaled task loss equal (Liu et al., 2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchjd.scalarization import IMTLL

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, float_option


class ImtlL(LossWeighting):
    """Impartial loss balance: L = sum_t (exp(s_t) L_t - s_t), the scales s_t learned with the network.

    d/ds_t = exp(s_t) L_t - 1, so each s_t moves towards -log L_t, where the scaled loss exp(s_t) L_t = 1
    for every task: the tasks are balanced in loss, whatever their units.  The network's gradient is
    sum_t exp(s_t) grad L_t.  The effective weight logged is exp(s_t).  The scales start at 0 (the plain
    sum).  exp(s) L - s is twice `uncertainty`'s regression term (1/2) exp(-v) L + v / 2 at v = -s: IMTL-L
    is uncertainty weighting with the regression form for every task, scaled by 2.

    Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021:
    IMTL-L, the loss-balance part (the scaled loss e^s L - s).
    The loss is torchjd's ``scalarization.IMTLL``, held as a submodule so its ``log_scale`` parameter is
    this strategy's: in `parameter_groups` (own ``lr``, no weight decay) and in ``state_dict``.
    Deviations: the s_t are stepped by the trainer's Adam (own ``lr`` if set, else the network's), not
    the paper's optimiser; L_t is the harness's batch-mean loss.
    Search space: ``lr`` log-uniform in [1e-4, 1e-1].
    """

    name = "imtl_l"
    step_cost_target = 1.05

    def __init__(self, tasks: Sequence[TaskSpec], *, lr: float | None = None):
        super().__init__(tasks)
        self.lr = (
            None if lr is None else float_option(self.owner, "lr", lr, "a positive number or None", lambda v: v > 0)
        )
        self.scalarizer = IMTLL(len(self.task_names))

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        weights = self.scalarizer.log_scale.detach().exp()
        return self.scalarizer(losses), dict(zip(self.task_names, weights, strict=True))

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True)}
