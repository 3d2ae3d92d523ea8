"""What the report and the MLflow UI show, on hand-made values: bold winners and links in every rendering,
one colour per strategy, metrics without float32 noise, test metrics at their epoch, the saved view."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmark.report.colors import PALETTE, strategy_colors
from benchmark.report.page import Section, html_page, markdown_page
from benchmark.report.tables import _best_rows, decimals
from benchmark.run.runner import metrics_by_model_epoch
from benchmark.tracking.links import experiment_url, filtered_runs_url, ui_address
from benchmark.tracking.runlog import without_float32_noise
from benchmark.tracking.views import VIEW_TAG_PREFIX, headline_key, headline_metrics, view_state, view_tag

SECTION = Section(
    "Table",
    ["strategy", "score"],
    [["a", "0.500"], ["b|c", "0.900"], ["d", "-"]],
    bold={(1, 1), (2, 1)},
    links=["http://ui/#/a", None],
)


def test_bold_cells_and_row_links_render_in_markdown_and_html():
    markdown = markdown_page("Title", [SECTION], [])
    assert "| b\\|c | **0.900** |" in markdown and "| d | - |" in markdown  # a missing value is never bold
    page = html_page("Title", [SECTION], [])
    assert "<td><b>0.900</b></td>" in page and "<td>-</td>" in page
    assert "<td><a href='http://ui/#/a'>a</a></td>" in page and "<td>b|c</td>" in page
    assert "max-width" in page and "overflow-x: auto" in page  # narrow windows: tables scroll in their box


def test_the_verdict_paragraph_leads_the_page():
    verdict = Section("Verdict", [], [], paragraph="Pick x <now>.")
    assert markdown_page("T", [verdict, SECTION], []).split("\n\n")[1] == "> **Verdict.** Pick x <now>."
    page = html_page("T", [verdict, SECTION], [])
    assert "<p class='verdict'><b>Verdict.</b> Pick x &lt;now&gt;.</p>" in page
    assert page.index("verdict") < page.index("<table>")


def test_the_best_value_is_marked_only_where_values_differ():
    assert _best_rows(pd.Series([0.5, 0.9, 0.9]), higher_is_better=True) == [1, 2]
    assert _best_rows(pd.Series([3.0, 1.0, np.nan]), higher_is_better=False) == [1]
    assert _best_rows(pd.Series([0.2, 0.2]), higher_is_better=True) == []  # all equal: nothing to mark
    assert _best_rows(pd.Series([0.2, np.nan]), higher_is_better=True) == []
    assert (decimals("accuracy"), decimals("f1"), decimals("mae"), decimals("mse")) == (3, 3, 2, 2)


def test_each_strategy_keeps_one_distinct_colour_whatever_else_ran():
    labels = ["sum", "static", "normalized", "uncertainty", "gradnorm", "alternating", "single"]
    colors = strategy_colors(labels)
    assert len(set(colors.values())) == len(labels) and set(colors.values()) <= set(PALETTE)
    assert strategy_colors(reversed(labels)) == colors  # not the suite's order
    alone = strategy_colors(["normalized"])["normalized"]
    assert colors["normalized"] == alone or len(set(colors.values())) == len(labels)  # moved only by a clash
    many = strategy_colors(f"s{i}" for i in range(len(PALETTE)))
    assert len(set(many.values())) == len(PALETTE)


def test_logged_metrics_lose_the_float32_noise_and_keep_float64_values():
    for value in (0.54375, 1 / 3, 123456.789, 1e-7, 0.0):
        single = float(np.float32(value))  # what the trainer's float(tensor) gives
        logged = without_float32_noise(single)
        assert np.float32(logged) == np.float32(single)  # the same float32
        assert len(repr(logged)) <= len(repr(float(np.float32(value)))) and len(repr(logged)) <= 12
    assert without_float32_noise(float(np.float32(0.54375))) == 0.54375  # not 0.5437499880790710
    assert without_float32_noise(1 / 3) == 1 / 3 and without_float32_noise(0.002) == 0.002  # float64 values
    assert without_float32_noise(7) == 7.0 and np.isnan(without_float32_noise(float("nan")))


def test_test_metrics_are_logged_at_the_epoch_their_model_comes_from():
    test = {"test/a/accuracy": 0.5, "test/a/f1": 0.4, "test/b/mae": 2.0}
    assert metrics_by_model_epoch(test, {"best_epoch": 7}) == {7: test}
    own = metrics_by_model_epoch(test, {"best_epoch": 9, "best_epoch/a": 4, "best_epoch/b": 9})  # separate nets
    assert own == {4: {"test/a/accuracy": 0.5, "test/a/f1": 0.4}, 9: {"test/b/mae": 2.0}}


def test_headline_metrics_sort_before_every_other_metric():
    test = {"test/alphabet/accuracy": 0.9, "test/alphabet/f1": 0.8, "test/slant/mae": 6.0}
    headline = headline_metrics(test, {"alphabet": "accuracy", "slant": "mae", "missing": "mae"})
    assert headline == {"best/alphabet accuracy": 0.9, "best/slant mae": 6.0}
    others = ["best_epoch", "best_epoch/alphabet", "grad/norm/a", "optimizer/lr", "strategy/x", "test/a/f1"]
    others += ["train/a/loss", "val/a/accuracy", "weight/a"]
    assert sorted([*others, *headline])[: len(headline)] == sorted(headline)
    assert headline_key("slant", "mae") == "best/slant mae"


def test_the_saved_view_selects_the_headline_columns_and_groups_by_strategy():
    key, value = view_tag(["best/a accuracy", "best/b mae"], created=5)
    assert key == VIEW_TAG_PREFIX + "mimo-bench-results"
    envelope = json.loads(value)
    assert envelope["name"] == "mimo-bench: results" and envelope["createdAt"] == 5
    state = json.loads(envelope["state"])
    assert state == view_state(["best/a accuracy", "best/b mae"])
    assert state["selectedColumns"] == ["metrics.`best/a accuracy`", "metrics.`best/b mae`", "metrics.`best_epoch`"]
    assert state["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": "strategy"}]
    assert state["searchFilter"] == "tags.run_key != ''"
    folded = view_state(["best/a accuracy"], collapsed=["static-front"])
    assert folded["groupsExpanded"] == {"tag.strategy.static-front": False} and folded["orderByAsc"] is True


def test_ui_links_open_the_model_training_view(monkeypatch):
    assert experiment_url("http://h:1", "7") == "http://h:1/#/experiments/7/runs?workflowType=machine_learning"
    assert experiment_url("http://h:1", "7", "v") == (
        "http://h:1/#/experiments/7/runs?viewStateShareKey=v&workflowType=machine_learning"
    )
    assert "searchFilter=tags.%60strategy%60%20%3D%20%27x%27" in filtered_runs_url(
        "http://h:1", "7", "tags.`strategy` = 'x'"
    )
    monkeypatch.delenv("MIMO_BENCH_UI_URL", raising=False)
    assert ui_address("http://server:5000/") == "http://server:5000"
    assert ui_address("sqlite:///mlruns/mlflow.db") is None
    monkeypatch.setenv("MIMO_BENCH_UI_URL", "http://127.0.0.1:5000/")
    assert ui_address("sqlite:///mlruns/mlflow.db") == "http://127.0.0.1:5000"


@pytest.mark.parametrize("label", ["sum", "a label with spaces", "ünïcode"])
def test_colours_are_hex(label):
    assert strategy_colors([label])[label].startswith("#") and len(strategy_colors([label])[label]) == 7


def test_runs_record_the_commit_of_the_checkout_that_holds_the_benchmark_package():
    import subprocess

    from benchmark.tracking.versions import CHECKOUT, checkout_version

    assert (CHECKOUT / "benchmark" / "__init__.py").is_file()  # not benchmark/ itself: its commit was never found
    if (CHECKOUT / ".git").exists():  # a git checkout (CI's is): the commit that runs record is its HEAD
        head = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert checkout_version()["mlflow.source.git.commit"] == head.stdout.strip()
