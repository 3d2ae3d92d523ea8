"""`mimo-bench search --export-suite`: a study's best trial written back as a suite to rerun over more seeds."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import optuna

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import TaskSpec
from benchmark.api.registry import STRATEGIES, baseline_strategy
from benchmark.suite.optimizer_space import sample_optimizer
from benchmark.suite.schema import Suite
from benchmark.suite.search import NarrowedTrial
from benchmark.suite.toml import to_toml


def export_suite(
    suite: Suite,
    tasks: Sequence[TaskSpec],
    label: str,
    study_name: str,
    best: list[optuna.trial.FrozenTrial],
    path: Path,
) -> None:
    """Write the winner of ``label``'s study (and the sum baseline, with no strategy parameters) as a suite.

    The winner's options are those its search space builds from the best trial; the ``[optimizer]``
    takes the trial's ``optimizer.<key>`` values (``optimizer_space``, ``search_lr``), the rest as the
    suite's.  Everything else is the searched suite's, which stays as it was.
    """
    if not best:
        raise MimoBenchError(f"study {study_name} has no complete trial to export")
    entry = next(e for e in suite.strategies if e.label == label)
    trial = optuna.trial.FixedTrial(best[0].params)
    narrowed = NarrowedTrial(trial, suite.search.space.get(label, {}))
    params = {**entry.params, **STRATEGIES.get(entry.name).search_space(narrowed, tasks)}
    resolved = copy.deepcopy(suite.resolved())  # its tables are the suite's own
    resolved.pop("search", None)
    resolved["name"] = f"{suite.name}-best"
    resolved["seeds"] = sorted({*suite.seeds, 0, 1, 2})
    resolved["optimizer"] = sample_optimizer(
        trial, suite.path, suite.optimizer, suite.search.optimizer_space, suite.epochs
    )
    resolved["strategies"] = [{"name": baseline_strategy()}, {"name": entry.name, "label": f"{label}-best", **params}]
    header = f"# exported by mimo-bench search from study {study_name}, trial {best[0].number}\n"
    path.write_text(header + to_toml(resolved))
