"""The tuned static-weights test of a suite's ``[compare] static_front``: an Optuna study of static weights.

The study is the suite's own search machinery (`benchmark.search.study.StudyRunner`) on a suite derived from
it: one strategy, ``static`` labelled `STATIC_FRONT_LABEL`, searched with ``objective = "pareto"`` (one val
metric per task, at each trial's best-val epoch), the shared lr searched too (``search_lr``, as Xin et al.
tune it per weighting), no pruning, the suite's first seed, every other setting the suite's.

The weights are drawn by `front_space`, not by ``static``'s own search space: log-uniformly over
`DECADES` decades per task, then scaled to sum to T (the scaled simplex of ``static``).  Tasks whose losses
differ in scale by orders of magnitude (the glyphs slant's MSE against two cross-entropies: the good
weightings give it about 1% of the others' weight) need such ratios, which a flat draw on the simplex
almost never makes and ``static``'s floor (every weight >= 0.05 T) rules out.  Its trials are
MLflow runs of the suite's experiment (``kind = trial``, ``strategy = static-front``); the study's run is
tagged ``compare = static_front`` so that it is never taken for the suite's report run.  Rerunning resumes
the study up to its budget (`benchmark.search.storages`), so a second ``mimo-bench run`` trains nothing new.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from benchmark.api.problem import TaskSpec
from benchmark.search.study import StudyResult, StudyRunner
from benchmark.suite.compare import STATIC_FRONT_LABEL
from benchmark.suite.schema import StrategyEntry, Suite
from benchmark.suite.search import FAILED_PER_TRIAL, SearchConfig

FRONT_TAGS = {"compare": "static_front"}
DECADES = 3.0  # each task's weight spans 10^-3 to 1 before scaling: ratios up to 1000 between tasks


def front_space(trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
    """Static weights w_t = T * 10^{x_t} / sum_s 10^{x_s}, x_t ~ U(-DECADES, 0) (Optuna's ``log10_weight_<task>``)."""
    raw = {task.name: 10.0 ** trial.suggest_float(f"log10_weight_{task.name}", -DECADES, 0.0) for task in tasks}
    total = sum(raw.values())
    return {"weights": {name: len(raw) * value / total for name, value in raw.items()}}


def front_suite(suite: Suite) -> Suite:
    """The suite whose [search] is the static front's study (module docstring)."""
    front = suite.compare.static_front
    if front is None:
        raise ValueError(f"{suite.path}: no [compare] static_front")
    entry = StrategyEntry("static", STATIC_FRONT_LABEL, {})  # every trial draws the weights
    search = SearchConfig(
        strategies=(STATIC_FRONT_LABEL,),
        trials=front.trials,
        objective="pareto",
        sampler=front.sampler,
        pruner="none",
        search_lr=True,
        max_failed=FAILED_PER_TRIAL * front.trials,
    )
    return dataclasses.replace(suite, strategies=(entry,), search=search)


def run_static_front(
    suite: Suite, storage: str | None = None, show_progress: bool = True, threads: int | None = None
) -> StudyResult:
    """Run (or resume up to its budget) the suite's static-front study in this process (its workers would
    read the suite file, which has no such [search]); its trials are tracked runs."""
    runner = StudyRunner(front_suite(suite), storage, show_progress, threads, study_tags=FRONT_TAGS, space=front_space)
    return runner.run_study(STATIC_FRONT_LABEL)
