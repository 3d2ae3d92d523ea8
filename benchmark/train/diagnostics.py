"""Gradient diagnostics at the last shared layer: each task's gradient norm and the pairwise cosines.

With g_t = d L_t / d (W, b) of the last shared layer (the unweighted task loss; weight and bias
flattened into one vector), each epoch logs the mean over its steps of

    grad/norm/<t>         ||g_t||
    grad/cosine/<a>-<b>   <g_a, g_b> / (||g_a|| ||g_b||)   for every pair, a before b in task order

A negative cosine is gradient conflict (negative transfer between the two tasks).  The gradients
are taken with `torch.autograd.grad` on the retained graph: ``.grad`` is untouched and no RNG is
used, so training gives the same numbers with the diagnostics on or off.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from benchmark.api.gradients import task_jacobian


class GradientDiagnostics:
    """Sums each step's task-gradient norms and cosines on the device; `means` reads the epoch out."""

    def __init__(self, names: Sequence[str], device: torch.device):
        self.names = tuple(names)
        self.rows, self.cols = torch.triu_indices(len(self.names), len(self.names), offset=1, device=device)
        self.pairs = [f"{a}-{b}" for a, b in itertools.combinations(self.names, 2)]  # the rows' order
        self.norms = torch.zeros(len(self.names), device=device)
        self.cosines = torch.zeros(len(self.pairs), device=device)
        self.steps = 0

    def reset(self) -> None:
        self.norms.zero_()
        self.cosines.zero_()
        self.steps = 0

    def add(self, losses: Mapping[str, torch.Tensor], layer: nn.Module) -> None:
        """Add one step: ``losses`` are the task losses with their graphs, ``layer`` the last shared layer."""
        vectors = task_jacobian([losses[name] for name in self.names], list(layer.parameters()))
        norms = vectors.norm(dim=1)
        unit = vectors / norms.clamp_min(1e-12).unsqueeze(1)
        self.norms += norms
        self.cosines += (unit @ unit.T)[self.rows, self.cols].clamp(-1.0, 1.0)
        self.steps += 1

    def means(self) -> dict[str, float]:
        """The epoch's mean norm per task and mean cosine per pair, as ``grad/...`` metrics."""
        norms = (self.norms / self.steps).tolist()
        cosines = (self.cosines / self.steps).tolist()
        values = {f"grad/norm/{n}": v for n, v in zip(self.names, norms, strict=True)}
        values.update({f"grad/cosine/{p}": v for p, v in zip(self.pairs, cosines, strict=True)})
        return values
