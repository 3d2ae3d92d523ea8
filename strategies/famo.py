"""FAMO: task weights softmax(xi), xi learned from how much each log-loss fell (Liu et al., 2023)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, float_option, task_table


class FAMO(LossWeighting):
    """FAMO: L = sum_t sg(z_t / c) log D_t, D_t = L_t - b_t + eps, z = softmax(xi), c = sum_t z_t / D_t.

    Its gradient is sum_t w_t grad L_t with w_t = z_t / (c D_t) (the effective weight logged; the w sum
    to 1), which decreases every log-loss at about the same rate.  xi learns from the change in
    log-losses across a model update, delta_t = log D_t(before) - log D_t(after): it takes the gradient
    J_softmax(xi)^T delta = z * (delta - <z, delta>), stepped by Adam with learning rate ``lr`` and L2 weight
    decay ``gamma`` (torch's Adam ``weight_decay``, as the official code); a descent step lowers z for the
    tasks whose log-loss fell most, so the weight moves toward the task whose loss decreased least.

    Liu, Feng, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023, Algorithm 1;
    ``lr = 0.025`` and ``gamma = 1e-3`` as LibMTL's FAMO (the official code's default gamma is 1e-5); b_t = ``min_loss`` (a number or a table keyed by task; 0 for the non-negative losses here) and
    ``epsilon = 1e-8`` as the official code.  D_t must stay positive: a ``min_loss`` above a task's loss
    makes the weights non-finite, which stops the run.
    Deviations:
      * delta uses the next step's losses: the paper recomputes the losses on the same batch after the
        optimizer step, which `after_step` cannot (it has no batch or model).  Here step t+1's ``combine``
        takes delta_t = log D(step t, batch t) - log D(step t+1, batch t+1) before computing its own
        weights, so "after" is measured on a batch the update did not fit (noisier by the batch-to-batch
        spread of the losses, and no extra forward pass); step 0 has no delta and keeps xi = 0 (uniform z).
      * xi is a parameter of the trainer's Adam (`parameter_groups`: ``lr``, weight decay ``gamma``) rather
        than a private optimizer, so its moments are checkpointed with the trainer's and a resumed run
        continues bit-identically.  The gradient set in step t+1's ``combine`` is applied by that step's
        optimizer step, so step t+1's weights use xi updated through delta_{t-1}: one step behind the
        paper's schedule.
    Not torchjd's ``scalarization.FAMO``: its Adam and previous losses are plain attributes outside
    ``state_dict`` (a resumed run would restart Adam's moments and lose the last losses), its ``update``
    expects the post-step losses of the same batch, and its logits would sit in the trainer's optimizer too.
    Search space: lr log-uniform in [1e-3, 1e-1], gamma log-uniform in [1e-5, 1e-2].
    """

    name = "famo"
    step_cost_target = 1.05

    def __init__(
        self,
        tasks: Sequence[TaskSpec],
        *,
        lr: float = 0.025,
        gamma: float = 1e-3,
        min_loss: float | Mapping[str, float] = 0.0,
        epsilon: float = 1e-8,
    ):
        super().__init__(tasks)
        self.lr = float_option(self.owner, "lr", lr, "a positive number", lambda v: v > 0)
        self.gamma = float_option(self.owner, "gamma", gamma, "a finite number >= 0", lambda v: v >= 0)
        self.epsilon = float_option(self.owner, "epsilon", epsilon, "a positive number", lambda v: v > 0)
        if isinstance(min_loss, Mapping):
            self.min_loss = task_table(self.owner, "min_loss", min_loss, self.task_names, minimum=None)
            bounds = [self.min_loss[n] for n in self.task_names]
        else:
            self.min_loss = float_option(self.owner, "min_loss", min_loss, "a finite number", math.isfinite)
            bounds = [self.min_loss] * len(self.task_names)
        self.logits = torch.nn.Parameter(torch.zeros(len(self.task_names)))  # xi
        self.register_buffer("lower_bound", torch.tensor(bounds), persistent=False)
        self.register_buffer("previous_losses", torch.zeros(len(self.task_names)))
        self.register_buffer("has_previous", torch.zeros((), dtype=torch.bool))

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        shifted = losses - self.lower_bound + self.epsilon
        with torch.no_grad():
            current = shifted.detach()
            if self.has_previous:  # the last step's update, measured on this batch
                delta = (self.previous_losses - self.lower_bound + self.epsilon).log() - current.log()
                z = torch.softmax(self.logits, dim=0)
                self.logits.grad = z * (delta - (z * delta).sum())
            self.previous_losses.copy_(losses.detach())
            self.has_previous.fill_(True)
            z = torch.softmax(self.logits, dim=0)
            weights = z / (current * (z / current).sum())
        total = (weights * current * shifted.log()).sum()  # z_t / c times log D_t
        return total, dict(zip(self.task_names, weights, strict=True))

    def parameter_groups(self, base_lr: float) -> list[dict[str, Any]]:
        return [{"params": [self.logits], "lr": self.lr, "weight_decay": self.gamma}]

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True),
            "gamma": trial.suggest_float("gamma", 1e-5, 1e-2, log=True),
        }
