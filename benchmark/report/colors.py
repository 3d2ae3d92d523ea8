"""One colour per strategy label, the same in every figure of a report and, as each run's ``mlflow.runColor``
tag, in the MLflow UI's charts.

A label's colour is picked by a hash of the label among the ten strong colours of `PALETTE`, so it does not
depend on the order of the suite nor on which other strategies ran; two labels of one report that hash to
the same colour are told apart by giving the later one (in sorted order) the next free strong colour, and
once the ten are taken, the next free light one.  Pure: imports neither matplotlib nor MLflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# matplotlib's tab10 (the strong colours), then the light half of tab20 and some of tab20b: 26 colours
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3",
)  # fmt: skip
STRONG = 10  # the first ten: tab10


def preferred_color(label: str, among: int = STRONG) -> int:
    """The palette index a label asks for among the first ``among`` colours (a hash, the same in every process)."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], "big") % among


def strategy_colors(labels: Iterable[str]) -> dict[str, str]:
    """A distinct hex colour per label (up to `len(PALETTE)` labels; beyond, colours repeat)."""
    chosen: dict[str, str] = {}
    taken: set[int] = set()
    for label in sorted(set(labels)):
        if len(taken) < STRONG:
            index = preferred_color(label)
            while index in taken:
                index = (index + 1) % STRONG
        else:
            index = STRONG + preferred_color(label, len(PALETTE) - STRONG)
            while index in taken and len(taken) < len(PALETTE):
                index = STRONG + (index - STRONG + 1) % (len(PALETTE) - STRONG)
        taken.add(index)
        chosen[label] = PALETTE[index]
    return chosen
