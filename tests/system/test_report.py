"""`mimo-bench report` on an experiment made by a tiny real suite, checked against hand computations."""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image
from scipy import stats

from benchmark.cli import main
from benchmark.report.analysis import make_report
from benchmark.report.stats import TaskMetric, delta_m, holm, hypervolume, pareto_mask
from benchmark.suite.toml import to_toml
from benchmark.tracking.store import Tracker
from tests.helpers import COMMAND

pytestmark = pytest.mark.slow

TASKS = ("alphabet", "character", "slant")
PRIMARY = {"alphabet": "accuracy", "character": "accuracy", "slant": "mae"}
FLAKY_PLUGIN = '''
import torch
from benchmark.api.strategy import LossWeighting

class Flaky(LossWeighting):
    """Half weights; fails on its third step when trained with seed 1 (a real failing run)."""

    def combine(self, ctx):
        if ctx.step == 2 and torch.initial_seed() == 1:
            raise RuntimeError("flaky on seed 1")
        weights = {n: ctx.losses[n].new_tensor(0.5) for n in self.task_names}
        return sum(weights[n] * loss for n, loss in ctx.losses.items()), weights
'''


SUITE: dict[str, Path] = {}  # the fixture's suite file, for the test that runs it again


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, _migrated_store) -> str:
    """2 strategies x 3 seeds, plus a plugin whose seed-1 run fails, and a static front of 3 trials; returns
    the tracking URI."""
    folder = tmp_path_factory.mktemp("report")
    store = folder / "mlflow.db"
    shutil.copy(_migrated_store, store)
    uri = f"sqlite:///{store}"
    (folder / "mimo_flaky_plugin.py").write_text(FLAKY_PLUGIN)
    suite = {
        "name": "report-tiny",
        "epochs": 3,
        "batch_size": 16,
        "seeds": [0, 1, 2],
        "problem": {
            "name": "glyphs",
            "alphabets": 2,
            "characters": 3,
            "samples": 12,
            "image_size": 16,
            "trajectory_length": 16,
        },
        "model": {"conv_channels": [4], "sequence_hidden": 8, "trunk": [16]},
        "strategies": [{"name": "sum"}, {"name": "normalized"}, {"name": "mimo_flaky_plugin:Flaky", "label": "flaky"}],
        "compare": {"static_front": {"trials": 3}},  # the tuned static-weights test: 3 more tiny runs
    }
    path = folder / "suite.toml"
    path.write_text(to_toml(suite))
    SUITE["path"] = path
    os.environ["MIMO_BENCH_CACHE"] = str(tmp_path_factory.getbasetemp() / "dataset-cache")
    sys.path.insert(0, str(folder))
    try:
        assert main(["run", str(path), "--tracking-uri", uri, "--no-progress"]) == 1  # the flaky run failed
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("mimo_flaky_plugin", None)
    return uri


@pytest.fixture(scope="module")
def report(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-out")
    return make_report(Tracker(experiment), "report-tiny", out=out), out


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


def test_the_verdict_opens_every_rendering_of_the_report(report, experiment):
    rep, out = report
    verdict = rep.verdict.text
    assert verdict and rep.verdict.winner in {"sum", "normalized", "flaky"}
    markdown = (out / "summary.md").read_text()
    assert markdown.splitlines()[2] == f"> **Verdict.** {verdict}"  # right under the title
    page = (out / "report.html").read_text()
    assert page.index("class='verdict'") < page.index("<table>")
    description = MlflowClient(experiment).get_run(rep.source.parent_run_id).data.tags["mlflow.note.content"]
    assert description.index("Verdict.") < description.index("Test metrics per strategy")


def test_best_values_are_bold_and_decimals_fixed_per_metric(report):
    rep, out = report
    markdown = (out / "summary.md").read_text()
    table = rep.table
    best = table["test/slant/mae mean"].idxmin()
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {best}"))
    assert f"**{table.loc[best, 'test/slant/mae mean']:.2f} ± " in row  # MAE: 2 decimals, the lowest in bold
    accuracy = f"{table.loc[best, 'test/alphabet/accuracy mean']:.3f}"
    assert accuracy in row  # accuracy: 3 decimals
    assert "<b>" in (out / "report.html").read_text()


def test_what_was_run_comes_from_the_runs_params_and_tags(report):
    rep, out = report
    settings = dict(rep.setup.settings)
    assert settings["problem"].startswith("glyphs (alphabets = 2, characters = 3, samples = 12")
    assert settings["training"].startswith("epochs 3, batch size 16")
    assert settings["seeds"] == "[0, 1, 2]" and settings["device"].startswith("cpu")
    assert settings["code"].startswith("mimo-bench ") and "optimizer" in settings
    assert dict(rep.setup.strategies)["flaky"] == "mimo_flaky_plugin:Flaky"
    assert "#### What was run" in (out / "summary.md").read_text()


def test_html_rows_link_to_the_mlflow_runs_when_the_ui_address_is_known(experiment, tmp_path, monkeypatch):
    monkeypatch.setenv("MIMO_BENCH_UI_URL", "http://ui.example:5000")
    rep = make_report(Tracker(experiment), "report-tiny", out=tmp_path, log=False)
    page = (tmp_path / "report.html").read_text()
    run_id = rep.source.runs["run_id"].iloc[0]
    assert f"href='http://ui.example:5000/#/experiments/{rep.source.experiment_id}/runs/{run_id}?" in page
    assert "searchFilter=tags." in page  # a strategy's row: the runs table filtered to its runs
    monkeypatch.delenv("MIMO_BENCH_UI_URL")
    make_report(Tracker(experiment), "report-tiny", out=tmp_path, log=False)
    assert "href=" not in (tmp_path / "report.html").read_text()


def test_runs_carry_headline_metrics_at_their_epoch_their_colour_and_the_experiment_its_view(report, experiment):
    rep, _ = report
    client = MlflowClient(experiment)
    for _, row in rep.source.runs[rep.source.runs["counts"]].iterrows():
        run = client.get_run(row["run_id"])
        best = int(run.data.metrics["best_epoch"])
        (point,) = client.get_metric_history(row["run_id"], "best/alphabet accuracy")
        assert point.step == best and point.value == run.data.metrics["test/alphabet/accuracy"]
        assert [m.step for m in client.get_metric_history(row["run_id"], "test/slant/mae")] == [best]
        assert len(repr(run.data.metrics["test/alphabet/accuracy"])) <= 12  # 0.5, not 0.5000000000001
        assert run.data.tags["mlflow.runColor"] == rep.colors[row["label"]]
    tags = client.get_experiment(rep.source.experiment_id).tags
    assert rep.view and f"mlflow.sharedViewState.{rep.view}" in tags


def test_the_static_front_places_every_strategy_in_val_space(report, experiment):
    rep, out = report
    front = rep.front
    assert front is not None and len(front.static) == 3 and front.seed == 0
    assert sorted(front.placements["label"]) == ["flaky", "normalized", "sum"]  # their seed-0 runs
    assert set(front.placements["where"]) <= {"beyond", "on", "inside"}
    client = MlflowClient(experiment)
    for _, row in front.placements.iterrows():
        run = client.get_run(row["run_id"])
        assert run.data.tags["seed"] == "0"
        best = int(run.data.metrics["best_epoch"])
        history = {m.step: m.value for m in client.get_metric_history(row["run_id"], "val/slant/mae")}
        assert row["val/slant/mae"] == history[best]  # val at the best epoch, never test
    trial = client.get_run(front.static["run_id"].iloc[0])
    assert trial.data.tags["kind"] == "trial" and trial.data.tags["strategy"] == "static-front"
    assert float(trial.data.params["optimizer.lr"]) > 0  # the shared lr is searched too
    weights = [float(trial.data.params[f"strategy.weights.{t}"]) for t in TASKS]
    assert sum(weights) == pytest.approx(len(TASKS))  # on the simplex (scaled to sum to T)
    study = client.get_run(trial.data.tags["mlflow.parentRunId"])
    assert study.data.tags["kind"] == "study" and study.data.tags["compare"] == "static_front"
    assert rep.source.parent_run_id != study.info.run_id  # the report stays on the suite's run
    assert "Against the front of 3 tuned static weightings (val metrics, seed 0)" in rep.verdict.text
    assert "#### Against the tuned static front" in (out / "summary.md").read_text()
    assert (out / "static_front.png").is_file()


def test_running_the_suite_again_trains_no_new_static_trial(experiment):
    """Last in this file: it adds a second suite run to the experiment the tests above read."""
    client = MlflowClient(experiment)
    experiment_id = client.get_experiment_by_name("report-tiny").experiment_id
    before = len(client.search_runs([experiment_id], "tags.kind = 'trial'"))
    suite, folder = SUITE["path"], SUITE["path"].parent
    sys.path.insert(0, str(folder))
    try:
        main(["run", str(suite), "--tracking-uri", experiment, "--no-progress", "--allow-failures"])
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("mimo_flaky_plugin", None)
    assert len(client.search_runs([experiment_id], "tags.kind = 'trial'")) == before == 3
