"""Loss normalisation: each task loss divided by a detached estimate of its own scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import (
    LossWeighting,
    StepContext,
    TaskSpec,
    TaskWeights,
    choice_option,
    float_option,
    int_option,
    task_weights,
)

SCALES = ("running", "initial")
MIN_SCALE = 1e-12  # keeps a loss of exactly zero from dividing by zero


def update_loss_scale(scale: torch.Tensor, count: torch.Tensor, losses: torch.Tensor, warmup: int, rate: float) -> None:
    """In place: ``scale`` is the mean of the first ``warmup`` loss vectors, then moves ``rate`` of the way
    to each new one (``rate=0`` freezes it).  Branch-free, so no step waits on the device."""
    count += 1
    scale.lerp_(losses, torch.where(count <= warmup, 1.0 / count, rate))


class Normalized(LossWeighting):
    """Scale-free sum: L = sum_t w_t L_t / sg(s_t), with s_t a detached running estimate of L_t's scale.

    s_t is the mean of the first ``warmup`` batch losses of task t; afterwards, with ``scale="running"``,
    an exponential moving average s_t <- decay * s_t + (1 - decay) * L_t (updated before it divides, so
    the first step's normalised loss is exactly 1), and with ``scale="initial"`` it stays the warm-up
    mean (``decay`` is then unused).  sg = stop-gradient: dividing L_t by its own non-detached value
    would give a zero gradient.  ``weights`` (keyed by task, default all 1) are static weights on top,
    validated as `static`'s.  The effective weight logged is w_t / s_t, the multiplier of L_t.

    No single paper: the common "normalise each loss by its magnitude" baseline (initial-loss
    normalisation as in GradNorm's L_t / L_t(0); the running form is a moving-average variant).
    Search space: ``scale`` and, for the running form, 1 - decay log-uniform in [1e-3, 1e-1]; the
    static ``weights`` stay at 1 so this remains a tuning-light alternative to a tuned `Static`.
    """

    name = "normalized"
    step_cost_target = 1.05

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        scale: str = "running",
        decay: float = 0.99,
        warmup: int = 10,
        weights: Mapping[str, float] | None = None,
    ):
        super().__init__(tasks)
        self.scale = choice_option(self.owner, "scale", scale, SCALES)
        self.decay = float_option(self.owner, "decay", decay, "a number in [0, 1)", lambda v: 0 <= v < 1)
        self.warmup = int_option(self.owner, "warmup", warmup)
        self.weights = None if weights is None else task_weights(self.owner, "weights", weights, self.task_names)
        static = [1.0] * len(self.task_names) if weights is None else [self.weights[n] for n in self.task_names]
        self.register_buffer("weight_vector", torch.tensor(static), persistent=False)
        self.register_buffer("loss_scale", torch.zeros(len(self.task_names)))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        rate = 1.0 - self.decay if self.scale == "running" else 0.0
        with torch.no_grad():
            update_loss_scale(self.loss_scale, self.count, losses.detach(), self.warmup, rate)
        effective = self.weight_vector / self.loss_scale.clamp_min(MIN_SCALE)
        return (effective * losses).sum(), dict(zip(self.task_names, effective, strict=True))

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        scale = trial.suggest_categorical("scale", list(SCALES))
        if scale == "initial":
            return {"scale": scale}
        return {"scale": scale, "decay": 1.0 - trial.suggest_float("one_minus_decay", 1e-3, 1e-1, log=True)}
