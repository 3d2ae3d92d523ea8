"""Uncertainty weighting with a positive regulariser, log(1 + sigma^2) (Liebel & Koerner, 2018)."""

from __future__ import annotations

import torch

from strategies.uncertainty import Uncertainty


class UncertaintyReg(Uncertainty):
    """Uncertainty weights with a positive regulariser: L = sum_t exp(-s_t) L_t / 2 + log(1 + exp(s_t)).

    With sigma_t^2 = exp(s_t) this is sum_t L_t / (2 sigma_t^2) + log(1 + sigma_t^2): Kendall et al.'s
    regulariser log sigma_t (`uncertainty`) is replaced by log(1 + sigma_t^2), which is never negative, so
    the total loss cannot be driven below zero by shrinking sigma_t.  Every task gets the factor 1/2,
    classification and regression alike.  The effective weight logged is exp(-s_t) / 2.  Setting
    d/ds_t = 0 gives the fixed point 2 sigma_t^4 = L_t (1 + sigma_t^2), i.e.
    sigma_t^2 = (L_t + sqrt(L_t^2 + 8 L_t)) / 4, so the weight still falls as the loss grows.

    Liebel & Koerner, "Auxiliary Tasks in Multi-task Learning", arXiv:1805.06334, 2018: the combined loss
    L_comb = sum_tau 1/(2 c_tau^2) L_tau + ln(1 + c_tau^2) of its multi-task loss section.
    Implementation: `uncertainty`'s code (its parameter, options, optimizer group and search space), with
    its two parts overridden: c_t = 1/2 for every task and the regulariser softplus(s_t) = log(1 + sigma_t^2).
    Deviations: the paper learns c_tau itself (public code starts it at 1); here the learned parameter is
    s_t = log sigma_t^2, as in `uncertainty`, so sigma_t^2 > 0 without a constraint; the objective and its
    optimum in sigma_t^2 are the paper's, but Adam's steps in s_t differ from steps in c_tau.
    ``init_log_variance`` = 0 is the same start as c = 1.  L_t is the harness's batch-mean loss and s_t is
    stepped by the trainer's Adam (own ``lr`` if set), as for `uncertainty`.
    Search space: ``lr`` log-uniform in [1e-4, 1e-1].
    """

    name = "uncertainty_reg"

    def likelihood_factors(self) -> list[float]:
        return [0.5] * len(self.tasks)

    def regulariser(self, log_variance: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(log_variance)  # log(1 + sigma^2), stable for large s
