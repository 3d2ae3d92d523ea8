"""GradNorm: learned task weights that balance gradient norms at a shared layer (Chen et al., 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from benchmark.api import (
    GradientStrategy,
    StepContext,
    TaskSpec,
    TaskWeights,
    choice_option,
    float_option,
    gradient_norm,
    int_option,
    task_gradients,
)
from strategies.normalized import MIN_SCALE, update_loss_scale

LAYERS = ("last", "last_with_bias", "shared")
MIN_WEIGHT = 1e-6  # weights are clamped to this before renormalising, so they stay positive


class GradNorm(GradientStrategy):
    """GradNorm: the net gets grad of sum_t sg(w_t) L_t; w learns to equalise G_t = ||grad_W w_t L_t||.

    With L~_t = L_t / L_t(0) and r_t = L~_t / mean(L~) (Eq. 1), the weights w (init 1) take the gradient
    of L_grad = sum_t |G_t - sg(mean(G) * r_t^alpha)| (Eq. 2) and nothing else; the network takes the
    gradient of sum_t w_t L_t with w detached.  After the optimizer step, w is clamped positive and
    renormalised to sum to T (Algorithm 1).  W is the weight of the last shared layer (``layer="last"``, the
    paper's choice), that weight and its bias (``layer="last_with_bias"``, as some implementations do), or
    every shared parameter (``layer="shared"``).

    Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss
    Balancing in Deep Multitask Networks", ICML 2018, Eq. 1-2 and Algorithm 1; ``alpha=1.5`` as for
    NYUv2 (the toy example uses 0.12).
    Implementation: G_t = w_t ||grad_W L_t|| exactly (w_t > 0), so each ||grad_W L_t|| is a plain
    ``autograd.grad`` w.r.t. W only (no ``create_graph``, graph retained for the final backward) and
    L_grad is differentiated w.r.t. w alone (autograd through that product, ``.grad`` of w only).
    w is in `parameter_groups` (own ``lr``, no weight decay), so the trainer's Adam steps it with the
    network and no optimizer state lives outside the trainer's.
    Deviations: L_t(0) is the mean loss of the first ``warmup`` steps (1 = the paper's first step;
    during the warm-up the mean so far); w is stepped by the trainer's Adam (Algorithm 1 writes a
    generic gradient update); the paper gives no learning rate for w: ``lr=0.025`` is this harness's default
    (public implementations use 1e-4 to 1e-2 with Adam) and the search space spans [1e-3, 1e-1].
    Search space: alpha uniform in [0, 3], lr log-uniform in [1e-3, 1e-1].
    """

    name = "gradnorm"
    step_cost_target = 1.25

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        alpha: float = 1.5,
        lr: float = 0.025,
        layer: str = "last",
        warmup: int = 1,
    ):
        super().__init__(tasks)
        self.alpha = float_option(self.owner, "alpha", alpha, "a finite number >= 0", lambda v: v >= 0)
        self.lr = float_option(self.owner, "lr", lr, "a positive number", lambda v: v > 0)
        self.layer = choice_option(self.owner, "layer", layer, LAYERS)
        self.warmup = int_option(self.owner, "warmup", warmup)
        self.task_weights = torch.nn.Parameter(torch.ones(len(self.task_names)))
        self.register_buffer("initial_loss", torch.zeros(len(self.task_names)))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def backward(self, ctx: StepContext) -> TaskWeights:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        params = [p for p in self._measured(ctx) if p.requires_grad]
        per_task, _ = task_gradients([ctx.losses[name] for name in self.task_names], params)  # graph kept
        grad_norms = torch.stack([gradient_norm(grads) for grads in per_task])
        weights = self.task_weights.detach().clone()
        (weights * losses).sum().backward()

        with torch.no_grad():
            update_loss_scale(self.initial_loss, self.count, losses.detach(), self.warmup, 0.0)
            loss_ratios = losses.detach() / self.initial_loss.clamp_min(MIN_SCALE)
            targets = (weights * grad_norms).mean() * (loss_ratios / loss_ratios.mean()) ** self.alpha
        gradnorm_loss = (self.task_weights * grad_norms - targets).abs().sum()
        (self.task_weights.grad,) = torch.autograd.grad(gradnorm_loss, self.task_weights)
        return dict(zip(self.task_names, weights, strict=True))

    def _measured(self, ctx: StepContext) -> list[torch.Tensor]:
        """The parameters W whose gradient norms are balanced."""
        if self.layer == "last":
            return [ctx.last_shared_layer.weight]
        if self.layer == "last_with_bias":
            return list(ctx.last_shared_layer.parameters())
        return list(ctx.shared_parameters)

    @torch.no_grad()
    def after_step(self) -> None:
        self.task_weights.clamp_(min=MIN_WEIGHT)
        self.task_weights.mul_(len(self.task_names) / self.task_weights.sum())

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {
            "alpha": trial.suggest_float("alpha", 0.0, 3.0),
            "lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True),
        }
