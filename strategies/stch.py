"""Smooth Tchebycheff scalarisation of nadir-normalised log-losses (Lin et al., 2024)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchjd.scalarization import STCH as TorchjdSTCH

from benchmark.api import LossWeighting, StepContext, TaskSpec, TaskWeights, float_option, int_option

EPSILON = 1e-20  # inside the logarithms, as the official code


class STCH(LossWeighting):
    """Smooth Tchebycheff: L = T mu log sum_t exp(f_t / mu), f_t = log(L_t / n_t), after a log-sum warm-up.

    The smooth Tchebycheff scalarisation g_mu(x | lambda) = mu log sum_t exp(lambda_t (f_t(x) - z_t) / mu)
    is a smooth upper bound of the weighted worst gap max_t lambda_t (f_t - z_t), within mu log T of it;
    its gradient is sum_t softmax(lambda (f - z) / mu)_t lambda_t grad f_t, so the task furthest from its
    ideal point gets the most weight, all of it as mu -> 0.
    The MTL setting of the authors' code: the objectives are log-losses with the warm-up nadir n_t as the
    reference, f_t = log(L_t / n_t + eps) (z_t = log n_t on the log-losses), lambda_t = 1 and the result
    times T.  For the first ``warmup_epochs`` epochs the net trains on sum_t log(L_t + eps) instead, and n_t
    is the mean batch loss of task t over the last warm-up epoch (the epoch's mean train loss, from
    `end_epoch`); ``warmup_epochs = 0`` skips the warm-up and uses n_t = 1.
    Effective weight logged: the multiplier of grad L_t, T softmax(f / mu)_t / (L_t + eps n_t) (1 / (L_t +
    eps) during the warm-up).

    Lin, Zhang, Yang, Liu, Wang & Zhang, "Smooth Tchebycheff Scalarization for Multi-Objective
    Optimization", ICML 2024, the smooth Tchebycheff scalarisation g_mu^(STCH); the MTL setting (log-losses,
    warm-up, nadir, mu = 1, eps = 1e-20) from the authors' STCH_MTL code as LibMTL ships it, whose
    ``STCH_warmup_epoch = 4`` counts from 0 (epochs 0-4 are warm-up, the nadir from epoch 4): that is
    ``warmup_epochs = 5`` here.  Computed by torchjd's ``scalarization.STCH`` (stabilised by subtracting the
    largest term) with its default uniform preference 1 / T and smoothing mu / T, times T^2:
    T^2 (mu / T) log sum_t exp((f_t / T) / (mu / T)) is exactly T mu log sum_t exp(f_t / mu).
    Deviations from the paper's definition, both the authors' MTL code's: lambda_t = 1 rather than a point
    of the simplex (uniform is 1 / T there), so this mu is T times the paper's mu at uniform preference and
    the total T^2 times its value; the reference is the warm-up nadir, not an ideal point.  From that code:
    none.  The nadir is checkpointed, so a resumed run continues bit-identically.
    Search space: mu log-uniform in [0.01, 1], warmup_epochs int in [0, 5].
    """

    name = "stch"
    step_cost_target = 1.05

    def __init__(self, tasks: Sequence[TaskSpec], *, mu: float = 1.0, warmup_epochs: int = 5):
        super().__init__(tasks)
        self.mu = float_option(self.owner, "mu", mu, "a positive number", lambda v: v > 0)
        self.warmup_epochs = int_option(self.owner, "warmup_epochs", warmup_epochs, minimum=0)
        self.scalarizer = TorchjdSTCH(self.mu / len(self.task_names))  # uniform lambda = 1 / T
        self.register_buffer("nadir", torch.ones(len(self.task_names)))

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        losses = torch.stack([ctx.losses[name] for name in self.task_names])
        count = len(self.task_names)
        if ctx.epoch <= self.warmup_epochs:
            total = torch.log(losses + EPSILON).sum()
            weights = 1.0 / (losses.detach() + EPSILON)
        else:
            gaps = torch.log(losses / self.nadir + EPSILON)
            total = count**2 * self.scalarizer(gaps)
            with torch.no_grad():
                weights = count * torch.softmax(gaps / self.mu, dim=0) / (losses + EPSILON * self.nadir)
        return total, dict(zip(self.task_names, weights, strict=True))

    def end_epoch(self, epoch: int, train_losses: Mapping[str, float], val_metrics: Mapping[str, float]) -> None:
        if epoch == self.warmup_epochs:
            self.nadir.copy_(torch.tensor([train_losses[name] for name in self.task_names]))

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        return {
            "mu": trial.suggest_float("mu", 0.01, 1.0, log=True),
            "warmup_epochs": trial.suggest_int("warmup_epochs", 0, 5),
        }
