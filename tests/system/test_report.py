"""`mimo-bench report` on an experiment made by a tiny real suite, checked against hand computations
(the verdict, the renderings and the static front: test_report_verdict.py)."""

from __future__ import annotations

import math
import statistics
import subprocess
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image
from scipy import stats

from benchmark.report.analysis import make_report
from benchmark.report.stats import TaskMetric, delta_m, holm, hypervolume, pareto_mask
from benchmark.tracking.store import Tracker
from tests.helpers import COMMAND

pytestmark = pytest.mark.slow

TASKS = ("alphabet", "character", "slant")
PRIMARY = {"alphabet": "accuracy", "character": "accuracy", "slant": "mae"}
# the `experiment` and `report` fixtures (tests/system/conftest.py): a tiny real suite, trained once per session


def finished_metrics(uri: str) -> dict[str, list[dict[str, float]]]:
    """Per strategy label, the metrics of each FINISHED run (search trials left out), read straight from MLflow."""
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name("report-tiny").experiment_id
    runs = client.search_runs([experiment_id], "tags.run_key != '' and attributes.status = 'FINISHED'")
    found: dict[str, list[dict[str, float]]] = {}
    for run in sorted(runs, key=lambda r: int(r.data.tags["seed"])):
        if run.data.tags.get("kind") == "trial":
            continue
        found.setdefault(run.data.tags["strategy"], []).append(run.data.metrics)
    return found


def test_table_equals_the_hand_computation_from_mlflow(report, experiment):
    table = report[0].table
    by_hand = finished_metrics(experiment)
    assert sorted(by_hand) == ["flaky", "normalized", "sum"]
    for label, runs in by_hand.items():
        assert table.loc[label, "seeds"] == len(runs)
        for task, metric in product(TASKS, ("accuracy", "f1", "mae", "mse")):
            key = f"test/{task}/{metric}"
            if key not in runs[0]:
                continue
            values = [r[key] for r in runs]
            mean, std = statistics.mean(values), statistics.stdev(values)
            half = stats.t.ppf(0.975, len(values) - 1) * std / math.sqrt(len(values))
            assert table.loc[label, f"{key} mean"] == pytest.approx(mean, rel=1e-12, abs=1e-12)
            assert table.loc[label, f"{key} std"] == pytest.approx(std, rel=1e-9, abs=1e-12)
            assert table.loc[label, f"{key} ci_low"] == pytest.approx(mean - half, rel=1e-9, abs=1e-12)
    assert table.loc["flaky", "failed"] == 1 and table.loc["flaky", "seeds"] == 2  # excluded from its means
    assert table.loc["sum", "failed"] == 0


def test_delta_m_and_paired_tests_match_the_formula(report, experiment):
    table, tests = report[0].table, report[0].tests
    runs = finished_metrics(experiment)
    terms = []
    for task, metric in PRIMARY.items():
        key = f"test/{task}/{metric}"
        own, base = statistics.mean(r[key] for r in runs["normalized"]), statistics.mean(r[key] for r in runs["sum"])
        sign = -1 if metric == "mae" else 1  # lower MAE is better: its relative change counts negated
        terms.append(sign * (own - base) / abs(base) * 100)
    assert table.loc["normalized", "Δm%"] == pytest.approx(statistics.mean(terms))
    assert table.loc["sum", "Δm%"] == pytest.approx(0.0)
    slant = tests[(tests["strategy"] == "normalized") & (tests["task"] == "slant")].iloc[0]
    expected = stats.ttest_rel(
        [r["test/slant/mae"] for r in runs["normalized"]], [r["test/slant/mae"] for r in runs["sum"]]
    ).pvalue
    assert slant["pairs"] == 3 and slant["p"] == pytest.approx(expected)
    flaky = tests[tests["strategy"] == "flaky"]
    assert (flaky["pairs"] == 2).all() and flaky["p"].isna().all()  # too few pairs: not tested
    assert not any("flaky" in note and "too few" in note for note in report[0].notes)  # one line, not a note each
    assert "Not tested, fewer than 3 seeds paired with sum: flaky (add seeds" in (report[1] / "summary.md").read_text()


def test_delta_m_sign_follows_each_metrics_direction():
    accuracy, mae = TaskMetric("a", "accuracy", True), TaskMetric("b", "mae", False)
    table = pd.DataFrame(
        {"test/a/accuracy mean": [0.5, 0.5, 0.6], "test/b/mae mean": [10.0, 8.0, 10.0]},
        index=["sum", "lower mae", "higher accuracy"],
    )
    result = delta_m(table, "sum", [accuracy, mae])
    assert result["lower mae"] == pytest.approx(10.0)  # (+20% better MAE + 0) / 2
    assert result["higher accuracy"] == pytest.approx(10.0)  # (+20% accuracy + 0) / 2
    worse = pd.DataFrame({"test/a/accuracy mean": [0.5], "test/b/mae mean": [12.0]}, index=["worse mae"])
    assert delta_m(pd.concat([table, worse]), "sum", [accuracy, mae])["worse mae"] == pytest.approx(-10.0)


def test_pareto_set_is_non_dominated_and_complete(report):
    rep = report[0]
    points = rep.points
    primary = rep.source.primary
    assert len(points) == 11  # 3 + 3 + 2 finished runs, 3 static-front trials
    values = [
        [row[m.key(rep.space)] * (1 if m.higher_is_better else -1) for m in primary] for _, row in points.iterrows()
    ]
    for index, own in enumerate(values):
        dominated = any(
            all(o >= v for o, v in zip(other, own, strict=True)) and any(o > v for o, v in zip(other, own, strict=True))
            for other in values
        )
        assert bool(points["on_front"].iloc[index]) == (not dominated)
    on_front = points[points["on_front"]]
    assert rep.hypervolumes["on front"].sum() == len(on_front)


def test_hypervolume_matches_hand_computed_cases():
    staircase = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(staircase, np.array([4.0, 4.0])) == pytest.approx(3 * 1 + 2 * 1 + 1 * 1)
    with_extras = np.vstack([staircase, [[3.5, 3.5], [5.0, 0.0]]])  # one dominated, one beyond the reference
    assert hypervolume(with_extras, np.array([4.0, 4.0])) == pytest.approx(6.0)
    boxes = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # 4 + 2 - overlap 1
    assert hypervolume(boxes, np.array([2.0, 2.0, 2.0])) == pytest.approx(5.0)
    assert list(pareto_mask(np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 0.5], [2.0, 2.0]]))) == [True, True, True, False]


def test_holm_adjustment_by_hand():
    adjusted = holm(np.array([0.01, 0.04, 0.03, math.nan]))
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3])


def test_files_are_written_and_logged_on_the_parent_run(report, experiment):
    rep, out = report
    for name in ("summary.md", "summary.csv", "report.html", "pareto.png", "weights.png", "learning_curves.png"):
        assert (out / name).is_file(), name
    for png in out.glob("*.png"):
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG"
    assert "data:image/png;base64," in (out / "report.html").read_text()
    csv = pd.read_csv(out / "summary.csv", index_col=0)
    assert csv.loc["sum", "test/alphabet/accuracy mean"] == pytest.approx(
        rep.table.loc["sum", "test/alphabet/accuracy mean"]
    )

    client = MlflowClient(experiment)
    parent = client.get_run(rep.source.parent_run_id)
    assert parent.data.tags["kind"] == "suite"
    logged = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"summary.md", "summary.csv", "report.html", "pareto.png"} <= logged
    description = parent.data.tags["mlflow.note.content"]
    assert "Test metrics per strategy" in description and "normalized" in description


def test_the_run_command_reported_at_its_end_with_the_failed_run(experiment):
    client = MlflowClient(experiment)
    experiment_id = client.get_experiment_by_name("report-tiny").experiment_id
    (parent,) = client.search_runs([experiment_id], "tags.kind = 'suite'")
    description = parent.data.tags["mlflow.note.content"]
    assert "flaky/seed-1 FAILED: RuntimeError: flaky on seed 1 (excluded)" in description
    assert "Every run (the latest per strategy and seed)" in description
    assert description.count("| FINISHED |") == 8 and description.count("| FAILED |") == 1  # runs, not trials


def test_an_unknown_experiment_is_one_clear_error(experiment):
    result = subprocess.run(
        [COMMAND, "report", "report-tinny", "--tracking-uri", experiment], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no experiment 'report-tinny'" in lines[0] and "report-tiny" in lines[0]


def test_val_space_reads_each_run_at_its_best_val_epoch(experiment):
    tracker = Tracker(experiment)
    rep = make_report(tracker, "report-tiny", space="val", log=False)
    client = MlflowClient(experiment)
    for _, point in rep.points.iterrows():
        best = int(client.get_run(point["run_id"]).data.metrics["best_epoch"])
        history = {m.step: m.value for m in client.get_metric_history(point["run_id"], "val/slant/mae")}
        assert point["val/slant/mae"] == history[best]
    assert rep.space == "val" and rep.points["on_front"].any()


def test_strategies_are_listed_in_suite_order_whatever_order_their_runs_started():
    """Under --jobs the longest runs start first; the report still lists the suite's order."""
    import pandas as pd

    from benchmark.report.data import current_runs

    rows = [  # (label, position in the suite, start time): `single` (last in the suite) started first
        ("single", 2.0, 1),
        ("sum", 0.0, 2),
        ("old-run", float("nan"), 0),  # recorded before runs carried their position: listed after the others
        ("static", 1.0, 3),
    ]
    frame = pd.DataFrame(
        [
            {"label": label, "position": position, "start_time": start, "seed": seed, "status": "FINISHED"}
            for label, position, start in rows
            for seed in (1, 0)
        ]
    ).assign(counts=True)
    runs = current_runs(frame)
    assert list(dict.fromkeys(runs["label"])) == ["sum", "static", "single", "old-run"]
    assert list(runs["seed"]) == [0, 1] * 4


def test_the_pareto_analysis_defaults_to_val_at_the_best_epoch_and_test_stays_an_option(experiment):
    from benchmark.cli.parser import parser as _parser

    client, tracker = MlflowClient(experiment), Tracker(experiment)
    default = make_report(tracker, "report-tiny", log=False)
    assert default.space == "val" and _parser().parse_args(["report", "x"]).pareto_space == "val"
    for _, point in default.points.iterrows():
        best = int(client.get_run(point["run_id"]).data.metrics["best_epoch"])
        history = {m.step: m.value for m in client.get_metric_history(point["run_id"], "val/alphabet/accuracy")}
        assert point["val/alphabet/accuracy"] == history[best]
    on_test = make_report(tracker, "report-tiny", space="test", log=False)
    assert on_test.space == "test" and set(on_test.reference) == {m.key("test") for m in on_test.source.primary}
