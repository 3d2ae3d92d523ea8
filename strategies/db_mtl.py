"""DB-MTL: log-losses, then every task's (EMA) gradient scaled to the largest task-gradient norm (Lin et al., 2023)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from benchmark.api import (
    GradientStrategy,
    StepContext,
    TaskSpec,
    TaskWeights,
    add_to_grad,
    apply_direction,
    flatten,
    float_option,
    task_gradients,
)

EPSILON = 1e-8  # inside log(L_t + eps) and under the gradient norms, as LibMTL


class DBMTL(GradientStrategy):
    """DB-MTL: shared update sum_t (max_s ||g~_s|| / ||g~_t||) g~_t, g~_t an EMA of grad log(L_t + eps).

    Loss-scale balancing: task t enters as log(L_t + eps), whose gradient grad L_t / (L_t + eps) no longer
    depends on the loss's scale.  Gradient-magnitude balancing: with g_t = d log(L_t + eps) / d theta over the
    shared parameters theta, the EMA g~_t <- beta_k g~_t + (1 - beta_k) g_t with beta_k = beta / k^sigma
    (k = 1, 2, ... the step; g~_t = 0 before the first), and the shared parameters get
    d = sum_t alpha_t g~_t with alpha_t = max_s ||g~_s|| / (||g~_t|| + eps): every task's term has the norm of
    the largest, so no task dominates the shared update by its gradient's magnitude.  Each head gets the plain
    gradient of its own log(L_t + eps).  One ``autograd.grad`` per task (`benchmark.api.task_gradients`).
    Effective weight logged: the multiplier of this step's grad L_t in d, alpha_t (1 - beta_k) / (L_t + eps)
    (the rest of d is the EMA's memory of earlier steps).

    Lin et al., "Dual-Balancing for Multi-Task Learning", arXiv 2308.12029, Section 3 (loss-scale balancing
    by the log transform; gradient-magnitude balancing by normalising the EMA task gradients to the maximum
    norm); ``beta = 0.9``, ``beta_sigma = 0`` (sigma) and eps = 1e-8 as the DB_MTL of LibMTL (the first
    author's library).  Deviations from that implementation: none in the update; like it, the gradients are
    taken over the shared parameters only (it refuses its representation variant).  The EMA (T x P) and the
    step count are checkpointed, so a resumed run continues bit-identically.
    Search space: beta uniform in [0, 0.99], beta_sigma uniform in [0, 1].
    """

    name = "db_mtl"

    def __init__(self, tasks: Sequence[TaskSpec], *, beta: float = 0.9, beta_sigma: float = 0.0):
        super().__init__(tasks)
        self.beta = float_option(self.owner, "beta", beta, "a number in [0, 1)", lambda v: 0 <= v < 1)
        self.beta_sigma = float_option(self.owner, "beta_sigma", beta_sigma, "a finite number >= 0", lambda v: v >= 0)
        self.register_buffer("gradient_ema", torch.zeros(0))  # T x P once the first step shows P
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def backward(self, ctx: StepContext) -> TaskWeights:
        shared = [p for p in ctx.shared_parameters if p.requires_grad]
        heads = [[p for p in ctx.task_parameters.get(name, []) if p.requires_grad] for name in self.task_names]
        log_losses = [torch.log(ctx.losses[name] + EPSILON) for name in self.task_names]
        per_shared, per_head = task_gradients(log_losses, shared, heads, retain_graph=False)
        for params, grads in zip(heads, per_head, strict=True):
            add_to_grad(params, grads)
        matrix = torch.stack([flatten(grads) for grads in per_shared])
        with torch.no_grad():
            if self.gradient_ema.shape != matrix.shape:
                self.gradient_ema = torch.zeros_like(matrix)
            self.count += 1
            keep = self.beta / self.count.to(matrix.dtype) ** self.beta_sigma  # beta_k
            self.gradient_ema.lerp_(matrix, 1.0 - keep)
            norms = self.gradient_ema.norm(dim=1)
            scales = norms.max() / (norms + EPSILON)
            direction = scales @ self.gradient_ema
            losses = torch.stack([ctx.losses[name].detach() for name in self.task_names])
            weights = scales * (1.0 - keep) / (losses + EPSILON)
        apply_direction(direction, shared)
        return dict(zip(self.task_names, weights, strict=True))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        key = f"{prefix}gradient_ema"
        if key in state_dict:  # the EMA's shape is known only once a step has run
            self.gradient_ema = torch.empty_like(state_dict[key], device=self.gradient_ema.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {
            "beta": trial.suggest_float("beta", 0.0, 0.99),
            "beta_sigma": trial.suggest_float("beta_sigma", 0.0, 1.0),
        }
