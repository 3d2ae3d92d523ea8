"""The tuned static-weights test on hand-made numbers: the margin, beyond / on / inside, the hypervolumes,
the closest static point, the verdict's sentence, and the ``[compare]`` table's errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.api.errors import MimoBenchError
from benchmark.report.front import FRONT_LABEL, compare_to_front, front_sentence, margin, place, where
from benchmark.report.stats import TaskMetric
from benchmark.suite.compare import STATIC_FRONT_LABEL, StaticFront, parse_compare

A, B = TaskMetric("a", "accuracy", True), TaskMetric("b", "accuracy", True)
FRONT = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])  # minimization: a staircase


def test_margin_is_the_additive_epsilon_indicator():
    assert margin(np.array([0.2, 0.2]), FRONT) == pytest.approx(0.3)  # may worsen by 0.3 before (0.5, 0.5) wins
    assert margin(np.array([0.6, 0.7]), FRONT) == pytest.approx(-0.1)  # must improve by 0.1 on both axes
    assert margin(np.array([0.5, 0.5]), FRONT) == 0.0  # a front point itself


def test_beyond_on_and_inside():
    assert where(np.array([0.2, 0.2]), FRONT) == "beyond"
    assert where(np.array([0.5, 0.5]), FRONT) == "on" and where(np.array([0.505, 0.5]), FRONT) == "inside"
    assert where(np.array([0.5, 0.495]), FRONT) == "on"  # not dominated, within 1% of the front
    assert where(np.array([0.25, 0.75]), FRONT) == "beyond"  # between two static points: their corner is 0.25 away
    assert where(np.array([0.5, 0.9]), FRONT) == "inside"  # ties (0.5, 0.5) on a, worse on b: margin 0, dominated


def points(rows: list[tuple[str, str, int, float, float]]) -> pd.DataFrame:
    columns = ["label", "kind", "seed", "val/a/accuracy", "val/b/accuracy"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["run_id"] = [f"run{i}" for i in range(len(frame))]
    return frame


def test_each_strategy_run_on_the_front_seed_is_placed_with_its_hypervolumes():
    frame = points(
        [
            (FRONT_LABEL, "trial", 0, 0.9, 0.1),
            (FRONT_LABEL, "trial", 0, 0.5, 0.5),
            (FRONT_LABEL, "trial", 0, 0.1, 0.9),
            (FRONT_LABEL, "trial", 0, 0.3, 0.3),  # dominated: not on the front
            ("good", "run", 0, 0.7, 0.7),  # beyond
            ("bad", "run", 0, 0.4, 0.4),  # inside
            ("good", "run", 1, 0.99, 0.99),  # another seed: not placed
        ]
    )
    comparison = compare_to_front(frame, [A, B])
    assert comparison.seed == 0 and list(comparison.static["on_front"]) == [True, True, True, False]
    placed = comparison.placements.set_index("label")
    assert list(placed.index) == ["good", "bad"]
    assert placed.loc["good", "where"] == "beyond" and placed.loc["bad", "where"] == "inside"
    assert placed.loc["good", "hv_added"] > 0 and placed.loc["bad", "hv_added"] == pytest.approx(0.0)
    assert placed.loc["bad", "hv_difference"] < placed.loc["good", "hv_difference"]
    assert placed.loc["bad", "closest"] == 1 and placed.loc["bad", "val/a/accuracy"] == 0.4  # nearest: (0.5, 0.5)
    comparison.names = {"good": "static", "bad": "sum"}  # a hand-set static weighting beyond the searched ones
    assert "as the suite's own static weighting (good) is among them, 4 trials do not trace" in front_sentence(
        comparison, "good"
    )
    comparison.names = {}
    sentence = front_sentence(comparison, "bad")
    assert sentence.startswith("Against the front of 4 tuned static weightings (val metrics, seed 0): good lies")
    assert "bad lies inside it" in sentence and "does at least as well as bad on every task" in sentence


def test_without_front_trials_or_without_runs_on_their_seed():
    assert compare_to_front(points([("good", "run", 0, 0.7, 0.7)]), [A, B]) is None
    lonely = compare_to_front(points([(FRONT_LABEL, "trial", 3, 0.5, 0.5), ("x", "run", 0, 0.6, 0.6)]), [A, B])
    assert lonely.placements.empty and "No strategy has a run on seed 3" in front_sentence(lonely, "x")
    static = points([(FRONT_LABEL, "trial", 0, 0.5, 0.5)])
    assert place(static.iloc[0:0], static, [A, B]).empty


def test_the_compare_table_is_checked_with_clear_errors():
    path = Path("suite.toml")
    assert parse_compare(path, {"static_front": {"trials": 5}}, ["sum"]).static_front == StaticFront(5, "random")
    assert parse_compare(path, {}, ["sum"]).static_front is None
    cases = {
        "compare.static_front.trials: missing": {"static_front": {}},
        "compare.static_front.trials: must be a positive integer": {"static_front": {"trials": 0}},
        "compare.static_front.sampler: 'grid' is not allowed": {"static_front": {"trials": 2, "sampler": "grid"}},
        "compare.static_front.trails: unknown key (did you mean 'trials'?)": {
            "static_front": {"trials": 2, "trails": 3}
        },
        "compare.static: unknown key": {"static": {"trials": 2}},
        "compare.static_front: expected a table": {"static_front": 4},
    }
    for message, table in cases.items():
        with pytest.raises(MimoBenchError, match="^" + re.escape(f"suite.toml: {message}")):
            parse_compare(path, table, ["sum"])
    with pytest.raises(MimoBenchError, match="rename that strategy"):
        parse_compare(path, {"static_front": {"trials": 2}}, ["sum", STATIC_FRONT_LABEL])
    assert FRONT_LABEL == STATIC_FRONT_LABEL  # the report finds the trials the suite's study made


def test_the_front_draws_weights_log_uniformly_on_the_scaled_simplex():
    import optuna

    from benchmark.api.problem import TaskSpec
    from benchmark.search.front import DECADES, front_space
    from benchmark.suite.search import NarrowedTrial

    tasks = [TaskSpec(name, "classification", 2) for name in ("a", "b", "c")]
    trial = optuna.trial.FixedTrial(
        {"strategy.log10_weight_a": 0.0, "strategy.log10_weight_b": 0.0, "strategy.log10_weight_c": -DECADES}
    )
    weights = front_space(NarrowedTrial(trial, {}), tasks)["weights"]
    assert sum(weights.values()) == pytest.approx(3.0) and weights["a"] / weights["c"] == pytest.approx(10**DECADES)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    ratios = []
    for _ in range(200):
        drawn = front_space(NarrowedTrial(study.ask(), {}), tasks)["weights"]
        assert sum(drawn.values()) == pytest.approx(3.0) and min(drawn.values()) > 0
        ratios.append(drawn["c"] / drawn["a"])
    assert min(ratios) < 0.02 and max(ratios) > 50  # a task 1% of another's weight, as unequal loss scales need
