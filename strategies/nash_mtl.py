"""Nash-MTL: task weights as the Nash bargaining solution, G w = 1/w (Navon et al., 2022)."""

from __future__ import annotations

import torch
from torchjd import aggregation

from strategies._torchjd.adapter import NON_NEGATIVE, Setting, TorchjdStrategy, integer


class NashMTL(TorchjdStrategy):
    """Nash-MTL: the weights of the Nash bargaining solution, G w = 1/w, updated every k steps.

    With G = J J^T, w > 0 solves G w = 1/w elementwise (Nash bargaining over the utilities <d, g_t>),
    found by the paper's sequence of convex problems (cvxpy + ECOS, ``optim_niter`` of them, on
    G / ||G||_F for conditioning, warm-started from the previous weights; where ECOS fails, e.g. on
    nearly opposite gradients, torchjd keeps the previous weights); d = w^T J, scaled down to norm
    ``max_norm`` if longer (0: no clipping).  Between updates (``update_every`` = k > 1) the last weights are reused on the new J.
    Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022, Algorithm 1 (its
    ``update_weights_every`` option for speed); torchjd's ``NashMTL`` (Jacobian path: the solver takes J).
    ``max_norm = 1.0``, ``optim_niter = 20`` as the official code.  Deviation: ``update_every = 10`` by
    default (the official code's default is 1): one solve per 10 steps brings the step to about the
    floor of T backward passes, where k = 1 costs 6-8x it (BENCHMARKS.md); set 1 for the paper's run.  The previous
    weights and the step counter are checkpointed, so a resumed run continues bit-identically.  The
    paper works on parameter gradients; both variants run.  Needs cvxpy and ecos.
    Search space: update_every log-int in [1, 20].
    """

    name = "nash_mtl"
    form = "matrix"
    solvers = ("cvxpy", "ecos")
    settings = {
        "update_every": Setting(10, integer(1), lambda trial, option: trial.suggest_int(option, 1, 20, log=True)),
        "max_norm": Setting(1.0, NON_NEGATIVE),
        "optim_niter": Setting(20, integer(1)),
    }
    state = ("prvs_alpha", "normalization_factor", "step")
    perf_cases = ({"update_every": 1},)

    @property
    def steps_per_update(self) -> int:
        return self.update_every

    def make(self) -> torch.nn.Module:
        return aggregation.NashMTL(len(self.task_names), self.max_norm, self.update_every, self.optim_niter).weighting

    def restored(self) -> None:
        if self.method.step > 0:  # torchjd builds its cvxpy problem on the first call only
            self.method._init_optim_problem()
