"""The report's verdict, its renderings (bold winners, decimals, what was run, links), what each run carries
for the MLflow UI, and the tuned static front, on the session's tiny real suite (tests/system/conftest.py)."""

from __future__ import annotations

import shutil
import sys

import pytest
from mlflow import MlflowClient

from benchmark.cli import main
from benchmark.report.analysis import make_report
from benchmark.tracking.store import Tracker
from tests.system.conftest import SUITE

pytestmark = pytest.mark.slow

TASKS = ("alphabet", "character", "slant")


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
        bookkeeping = {"heartbeat", "checkpoint_epoch", "mimo_bench.create_token"} & set(run.data.tags)
        assert not bookkeeping and run.data.tags["owner"]  # a finished run keeps who trained it, nothing else
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
    assert dict(rep.setup.settings)["static front"] == "3 trials on seed 0 (report-tiny/static-front)"


def test_running_the_suite_again_trains_no_new_static_trial(experiment, tmp_path):
    """On a copy of the store and of the Optuna journal beside it (the other tests read one suite run)."""
    suite, folder = SUITE["path"], SUITE["path"].parent
    shutil.copy(folder / "mlflow.db", tmp_path / "mlflow.db")
    shutil.copy(folder / "optuna.journal", tmp_path / "optuna.journal")
    copy = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(copy)
    experiment_id = client.get_experiment_by_name("report-tiny").experiment_id
    before = len(client.search_runs([experiment_id], "tags.kind = 'trial'"))
    sys.path.insert(0, str(folder))
    try:
        main(["run", str(suite), "--tracking-uri", copy, "--no-progress", "--allow-failures"])
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("mimo_flaky_plugin", None)
    assert len(client.search_runs([experiment_id], "tags.kind = 'trial'")) == before == 3
    assert len(client.search_runs([experiment_id], "tags.kind = 'suite'")) == 2  # the runs were skipped, not redone
