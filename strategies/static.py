"""Fixed, user-chosen task weights."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, task_weights


class Static(LossWeighting):
    """Fixed weights: L = sum_t w_t L_t with w keyed by task name (w_t >= 0, not all zero).

    Search space: weights on the simplex, scaled to sum to T (so equal weights are all 1), drawn by
    normalising independent exponentials -log(u_t), u_t ~ U(0, 1) (a flat Dirichlet, which favours no
    direction of trade-off), with every weight at least ``floor * T`` so no task is switched off; the
    floors take at most half the total (``floor`` is capped at 1 / (2T)), so for many tasks every
    weight is at least 1/2 and the weights stay non-negative for any T.
    """

    name = "static"
    step_cost_target = 1.05

    def __init__(self, tasks: Sequence[TaskSpec], *, weights: Mapping[str, float]):
        super().__init__(tasks)
        self.weights = task_weights(self.owner, "weights", weights, self.task_names)
        self.register_buffer(
            "weight_vector", torch.tensor([self.weights[n] for n in self.task_names]), persistent=False
        )

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        return (self.weight_vector * losses).sum(), dict(zip(self.task_names, self.weight_vector, strict=True))

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec], floor: float = 0.05) -> dict[str, Any]:
        draws = {t.name: -math.log(trial.suggest_float(f"u_{t.name}", 1e-6, 1.0)) for t in tasks}
        total = sum(draws.values())
        count = len(tasks)
        floor = min(floor, 0.5 / count)
        free = 1.0 - floor * count
        shares = {name: draw / total if total else 1.0 / count for name, draw in draws.items()}  # every u_t = 1
        return {"weights": {name: count * (floor + free * share) for name, share in shares.items()}}
