"""Methods that choose task weights from the task gradients: MGDA, IMTL-G, Aligned-MTL, FairGrad,
ExcessMTL and the CR-MOGM smoothing (torchjd's classes; see `strategies._torchjd.adapter` for the step).

Notation: J is the T x P matrix of task gradients g_t, G = J J^T, d = w^T J the direction written into
``.grad``, Δ the probability simplex.
"""

from __future__ import annotations

import torch
from torchjd import aggregation

from strategies._torchjd.adapter import (
    POSITIVE,
    UNIT,
    Setting,
    TorchjdStrategy,
    choice,
    integer,
    uniform,
)
from strategies._torchjd.conflict import QP_SOLVERS


class MGDA(TorchjdStrategy):
    """MGDA: the min-norm point of the convex hull of the task gradients (a common descent direction).

    w = argmin_{w ∈ Δ} ||w^T J||², so <d, g_t> >= ||d||² >= 0 for every t (d = 0 at a Pareto-stationary point).
    Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective optimization", C. R. Math.
    2012; Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018, Algorithm 2
    (Frank-Wolfe on G, stopped when the step is below ``epsilon`` or after ``max_iters``); torchjd's
    ``MGDAWeighting`` (Gramian path).  ``on = "representation"`` is the paper's MGDA-UB.  Deviation: the
    paper's optional gradient normalisation (l2 / loss / loss+) is not applied.  No search space.
    """

    name = "mgda"
    settings = {"epsilon": Setting(1e-3, POSITIVE), "max_iters": Setting(100, integer(1))}

    def make(self) -> torch.nn.Module:
        return aggregation.MGDAWeighting(epsilon=self.epsilon, max_iters=self.max_iters)


class IMTLG(TorchjdStrategy):
    """IMTL-G: the combination of task gradients with equal projections onto every unit task gradient.

    d = w^T J with Σ_t w_t = 1 and <d, u_t> equal for all t (u_t = g_t / ||g_t||): w ∝ G^+ (||g_t||)_t,
    torchjd's generalisation to linearly dependent gradients (the paper's closed form needs full rank).
    Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021 (IMTL-G, the gradient part; the loss
    part IMTL-L is a loss weighting); torchjd's ``IMTLGWeighting`` (Gramian path).  The paper takes the
    gradients at the shared representation for speed (``on = "representation"``); both variants run.
    No options, no search space.
    """

    name = "imtl_g"

    def make(self) -> torch.nn.Module:
        return aggregation.IMTLGWeighting()


class AlignedMTL(TorchjdStrategy):
    """Aligned-MTL: aligns the task gradients' principal components so their Gramian is well conditioned.

    G = V Λ V^T (rank r), B = sqrt(s) V Λ^{-1/2} V^T with s = the smallest eigenvalue (``scale_mode
    = "min"``; "median" / "rmse" = the median / mean eigenvalue); w = B (1/T, …, 1/T), d = w^T J.
    The aligned gradients B J have Gramian B G B = s I on the span: condition number 1.
    Senushkin, Patakin, Kuznetsov & Konushin, "Independent Component Alignment for Multi-Task Learning",
    CVPR 2023, Algorithm 1; torchjd's ``AlignedMTLWeighting`` (Gramian path).  ``on = "representation"``
    is the paper's Aligned-MTL-UB.  Search space: scale_mode.
    """

    name = "aligned_mtl"
    settings = {
        "scale_mode": Setting(
            "min",
            choice("min", "median", "rmse"),
            lambda trial, option: trial.suggest_categorical(option, ["min", "median", "rmse"]),
        )
    }

    def make(self) -> torch.nn.Module:
        return aggregation.AlignedMTLWeighting(scale_mode=self.scale_mode)


class FairGrad(TorchjdStrategy):
    """FairGrad: α-fair task weights: G w = w^(-1/α) elementwise, w > 0.

    α = 1 is proportional fairness (Nash-MTL's bargaining condition G w = 1/w); α -> 0 tends to the
    mean, larger α to max-min fairness.  Solved by scipy's ``least_squares`` from w = 1/T.
    Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024, Eq. 4 and Algorithm 1;
    torchjd's ``FairGradWeighting`` (Gramian path).  The paper works on parameter gradients.
    ``alpha = 1.0`` as LibMTL's default.  Search space: alpha log-uniform in [0.25, 4].
    """

    name = "fairgrad"
    settings = {"alpha": Setting(1.0, POSITIVE, uniform(0.25, 4.0, log=True))}
    solvers = ("scipy",)

    def make(self) -> torch.nn.Module:
        return aggregation.FairGradWeighting(alpha=self.alpha)


class ExcessMTL(TorchjdStrategy):
    """ExcessMTL: weights grow with each task's estimated excess risk (exponentiated-gradient updates).

    Ê_t = Σ_p g_tp² / sqrt(Σ_{steps} g_tp² + 1e-7) (a diagonal-AdaGrad second-order proxy, Eq. 6-7),
    divided by the first step's Ê_t (or the mean over ``warmup`` steps); w <- softmax(log w + η Ê) (Eq. 9),
    w starting at 1/T.
    He, Zhou, Guo, Tang & Kolar, "Robust Multi-Task Learning with Excess Risks", ICML 2024; torchjd's
    ``ExcessMTLWeighting`` (Jacobian path: it needs J itself, not only G).  Shared parameters only: the
    per-coordinate statistics are over parameters; representation coordinates are other samples each
    batch.  ``robust_step_size`` η = 1.0 is torchjd's default; the running sums are checkpointed.
    Search space: robust_step_size log-uniform in [1e-3, 1].
    """

    name = "excess_mtl"
    form = "matrix"
    variants = ("shared",)
    settings = {
        "robust_step_size": Setting(1.0, POSITIVE, uniform(1e-3, 1.0, log=True)),
        "warmup": Setting(0, integer(0)),
    }
    state = ("_weights", "_sq_grad_sum", "_initial_w", "_warmup_w_sum", "_n_steps")

    def make(self) -> torch.nn.Module:
        return aggregation.ExcessMTLWeighting(self.robust_step_size, self.warmup)

    def restored(self) -> None:
        sums = self.method._sq_grad_sum
        self.method._state_key = None if sums is None else (*sums.shape, sums.dtype, sums.device)


SMOOTHED = {
    "mgda": aggregation.MGDAWeighting,
    "pcgrad": aggregation.PCGradWeighting,
    "upgrad": aggregation.UPGradWeighting,
    "dualproj": aggregation.DualProjWeighting,
    "imtl_g": aggregation.IMTLGWeighting,
}


class CRMOGM(TorchjdStrategy):
    """CR-MOGM: another method's weights, smoothed by an exponential moving average across steps.

    λ_k = α λ_{k-1} + (1 - α) λ̂_k with λ̂_k the weights of ``base`` (default MGDA) at step k and
    λ_0 = λ̂_1; d = λ_k^T J.
    Zhou et al., "On the Convergence of Stochastic Multi-Objective Gradient Manipulation and Beyond",
    NeurIPS 2022 (the correlation-reduced MOGM); torchjd's ``CRMOGMWeighting`` (Gramian path).
    Deviation: a fixed α (the paper's Corollary 1 lets α grow as the learning rate decays).  The average
    is checkpointed.  Both variants.  Search space: alpha uniform in [0.5, 0.99] and base.
    """

    name = "cr_mogm"
    settings = {
        "alpha": Setting(0.9, UNIT, uniform(0.5, 0.99)),
        "base": Setting(
            "mgda", choice(*SMOOTHED), lambda trial, option: trial.suggest_categorical(option, list(SMOOTHED))
        ),
    }
    state = ("_lambda",)

    def make(self) -> torch.nn.Module:
        self.stochastic = self.base == "pcgrad"
        return aggregation.CRMOGMWeighting(SMOOTHED[self.base](), alpha=self.alpha)

    def needed_solvers(self) -> tuple[str, ...]:
        return QP_SOLVERS if self.base in ("upgrad", "dualproj") else ()
