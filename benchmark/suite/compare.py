"""The suite's ``[compare]`` table: comparisons the suite asks for beside its strategy runs.

``static_front = { trials = N }``: the tuned static-weights test (Xin et al., "Do Current Multi-Task
Optimization Methods in Deep Learning Even Help?", NeurIPS 2022; Kurin et al., "In Defense of the
Unitary Scalarization for Deep Multi-Task Learning", NeurIPS 2022).  After the strategy runs, an Optuna
study of N trials searches static weights on the simplex (drawn log-uniformly: `benchmark.search.front`)
together with the shared lr, one val metric per task (multi-objective), on the suite's first seed; the report then
places every strategy against the front its trials trace (`benchmark.report.front`).  ``sampler`` chooses
how the weights are drawn: ``random`` (the default), ``tpe`` (Optuna's multi-objective TPE: random for its
first 10 trials, then drawn where the earlier trials did well) or ``nsga2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.suite.table import Table

STATIC_FRONT_LABEL = "static-front"  # the label of the front's trials (a suite may not use it)
FRONT_SAMPLERS = ("random", "tpe", "nsga2")


@dataclass(frozen=True)
class StaticFront:
    """A validated ``[compare] static_front`` table."""

    trials: int
    sampler: str = "random"


@dataclass(frozen=True)
class CompareConfig:
    """A validated ``[compare]`` table."""

    static_front: StaticFront | None = None


def parse_compare(path: Path, table: Any, labels: list[str]) -> CompareConfig:
    """Validate the ``[compare]`` table of a suite whose strategies have ``labels``."""
    compare = Table(path, "compare", table)
    front = None
    if "static_front" in compare.table:
        options = Table(path, "compare.static_front", compare.get("static_front", dict, {}, "a table: { trials = 20 }"))
        if "trials" not in options.table:
            raise options.error("missing; expected a positive integer, e.g. static_front = { trials = 20 }", "trials")
        front = StaticFront(options.positive_int("trials", 20), options.choice("sampler", "random", FRONT_SAMPLERS))
        options.check_no_rest(["trials", "sampler"])
        if STATIC_FRONT_LABEL in labels:
            raise compare.error(
                f"the front's trials are labelled {STATIC_FRONT_LABEL!r}, which a strategy of this suite uses; "
                "rename that strategy",
                "static_front",
            )
    compare.check_no_rest(["static_front"])
    return CompareConfig(front)
