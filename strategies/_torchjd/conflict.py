"""Methods that remove or reduce conflict between task gradients: UPGrad, DualProj, PCGrad, GradVac,
GradDrop, ConFIG and CAGrad (torchjd's classes; see `strategies._torchjd.adapter` for the step).

Notation: J is the T x P matrix of task gradients g_t (over the shared parameters, or the representation
with ``on = "representation"``), G = J J^T its Gramian, d the direction written into ``.grad``,
Δ the probability simplex.
"""

from __future__ import annotations

import torch
from torchjd import aggregation

from strategies._torchjd.adapter import NON_NEGATIVE, UNIT, Setting, TorchjdStrategy, uniform

QP_SOLVERS = ("quadprog", "qpsolvers")  # torchjd's dual-cone projector
NORM_EPS = 1e-8  # CAGrad: below this share of ||J||_F, ||g_w|| counts as zero (torchjd's default: 1e-4)


class UPGrad(TorchjdStrategy):
    """UPGrad: the mean of each task gradient projected onto the dual cone of all of them (never conflicts).

    d = (1/T) Σ_i π_J(g_i) with π_J(g) = argmin_{v : J v >= 0} ||v - g||², solved in the dual on G
    (quadprog), so J d >= 0: no task's loss increases to first order.
    Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", arXiv:2406.16232 (2024), Sec. 3;
    torchjd's ``UPGradWeighting`` (Gramian path).  The paper works on the Jacobian w.r.t. the parameters
    (``on = "shared"``); ``on = "representation"`` is the rep-grad variant.  No options, no search space.
    """

    name = "upgrad"
    solvers = QP_SOLVERS

    def make(self) -> torch.nn.Module:
        return aggregation.UPGradWeighting()


class DualProj(TorchjdStrategy):
    """DualProj: the mean gradient projected onto the dual cone of the task gradients (GEM's projection).

    d = argmin_{v : J v >= 0} ||v - (1/T) Σ_t g_t||², solved in the dual on G, so J d >= 0.
    Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning", NeurIPS 2017, Eq. 11 (there the
    constraints are past tasks' gradients; here every task's); torchjd's ``DualProjWeighting`` (Gramian path).
    Both variants; no options, no search space.
    """

    name = "dualproj"
    solvers = QP_SOLVERS

    def make(self) -> torch.nn.Module:
        return aggregation.DualProjWeighting()


class PCGrad(TorchjdStrategy):
    """PCGrad: each task gradient loses its component along every task gradient it conflicts with.

    For each i: g_i' = g_i; for j ≠ i in random order, if <g_i', g_j> < 0, g_i' -= <g_i', g_j> / ||g_j||² g_j;
    d = Σ_i g_i'.  Without conflict d = Σ_t g_t (the plain sum).
    Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020, Algorithm 1; torchjd's
    ``PCGradWeighting`` (Gramian path: the projections are coefficients on G).  The paper projects
    parameter gradients (``on = "shared"``); LibMTL also offers the representation variant.  The random
    order is drawn from the step context's generator.  No options, no search space.
    """

    name = "pcgrad"
    stochastic = True

    def make(self) -> torch.nn.Module:
        return aggregation.PCGradWeighting()


class GradVac(TorchjdStrategy):
    """GradVac: raises each pair's gradient cosine to an EMA target instead of only removing conflict.

    For each i and j ≠ i (random order), with φ_ij = cos(g_i', g_j) and target φ̂_ij: if φ_ij < φ̂_ij,
    g_i' += ||g_i'|| (φ̂_ij sqrt(1-φ_ij²) - φ_ij sqrt(1-φ̂_ij²)) / (||g_j|| sqrt(1-φ̂_ij²)) g_j; then
    φ̂_ij <- (1-β) φ̂_ij + β φ_ij; d = Σ_i g_i'.
    Wang, Tsvetkov, Firat & Cao, "Gradient Vaccine", ICLR 2021, Algorithm 1; torchjd's ``GradVacWeighting``
    (Gramian path).  Deviation: one group over all shared parameters (the paper also applies it per
    layer); ``beta = 0.5`` is torchjd's and LibMTL's default.  The EMA targets are checkpointed; the
    random order comes from the step context's generator.  Both variants.
    Search space: beta log-uniform in [1e-3, 1].
    """

    name = "gradvac"
    stochastic = True
    settings = {"beta": Setting(0.5, UNIT, uniform(1e-3, 1.0, log=True))}
    state = ("_phi_t",)

    def make(self) -> torch.nn.Module:
        return aggregation.GradVacWeighting(beta=self.beta)

    def restored(self) -> None:
        phi = self.method._phi_t
        self.method._state_key = None if phi is None else (phi.shape[0], phi.dtype)


class GradDrop(TorchjdStrategy):
    """GradDrop: per coordinate, keeps only the positive or only the negative task components, at random.

    P = ½ (1 + Σ_t g_t / Σ_t |g_t|) per coordinate (sign purity), U ~ Uniform(0, 1) per coordinate;
    d = Σ_t M_t ⊙ g_t with M_t = [P > U][g_t > 0] + [P < U][g_t < 0] (f = identity, no leak).
    Chen et al., "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign Dropout", NeurIPS
    2020, Algorithm 1 (lines 10-15); torchjd's ``GradDrop`` aggregator (Jacobian path; no weights, so
    ``weight/<task>`` is d's projection coefficient onto g_t).  The paper applies it at the activations
    of the last shared layer (``on = "representation"``) with P summed over the batch; here P is per
    coordinate of J, batch positions included.  U is drawn from the step context's generator.  No options.
    """

    name = "graddrop"
    form = "direction"
    stochastic = True

    def make(self) -> torch.nn.Module:
        return aggregation.GradDrop()


class ConFIG(TorchjdStrategy):
    """ConFIG: the conflict-free direction with equal cosine to every task gradient, scaled by their sum.

    u = unit(U^+ 1) with U the unit task gradients as rows, d = (Σ_t <g_t, u>) u, so <d, g_t> >= 0 for
    every t and the cosines to the unit gradients are equal.
    Liu, Chu & Thuerey, "ConFIG: Towards Conflict-free Training of Physics Informed Neural Networks", ICLR
    2025, Eq. 2; torchjd's ``ConFIG`` aggregator (Jacobian path; ``weight/<task>`` is d's projection
    coefficient onto g_t).  The paper works on parameter gradients.  No options.
    """

    name = "config"
    form = "direction"

    def make(self) -> torch.nn.Module:
        return aggregation.ConFIG()


class CAGrad(TorchjdStrategy):
    """CAGrad: the mean gradient, moved within a ball around it to raise the worst task's improvement.

    g0 = (1/T) Σ_t g_t, φ = c² ||g0||²; w = argmin_{w ∈ Δ} <g_w, g0> + sqrt(φ) ||g_w|| (g_w = w^T J);
    d = g0 + sqrt(φ) / ||g_w|| g_w.  c = 0 gives the mean.
    Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021,
    Algorithm 1 (Eq. 4 and its dual); torchjd's ``CAGradWeighting`` (Gramian path, cvxpy + CLARABEL
    instead of the paper's scipy solver).  ``c = 0.4`` as the paper's NYUv2 runs.  Deviation: the
    official code divides d by 1 + c² (its ``rescale=1``); torchjd and this adapter do not (Adam is
    nearly invariant to it).  torchjd's default ``norm_eps = 1e-4`` returns no update at all when ||g_w||
    is below 1e-4 of ||J||_F, which happens on every step when one task's gradients are 10^4 times
    another's (glyphs' slant); ``norm_eps = 1e-8`` here keeps the paper's update.  The paper works on parameter gradients.  Needs cvxpy and clarabel.
    Search space: c uniform in [0, 0.9].
    """

    name = "cagrad"
    settings = {"c": Setting(0.4, NON_NEGATIVE, uniform(0.0, 0.9))}
    solvers = ("cvxpy", "clarabel")

    def make(self) -> torch.nn.Module:
        return aggregation.CAGradWeighting(c=self.c, norm_eps=NORM_EPS)
