"""The MLflow UI as a new user meets it, clicked through in a real headless Chromium: the link `mimo-bench report`
prints opens the experiment's runs table, in the model-training view, with each strategy's metrics showing;
and the HTML report stays readable 800 px wide.

Needs Debian's ``chromium`` package and the ``playwright`` Python package (``pip install playwright``; it drives
the system chromium, no browser download); skips with the reason where either is missing.  With
``MIMO_BENCH_SCREENSHOTS=docs`` it saves the runs view and a comparison chart there (``mlflow-runs-view.png``,
``mlflow-charts.png``); ``MIMO_BENCH_SCREENSHOTS_FROM=path/to/mlflow.db:experiment`` takes them of another
store (a copy is served) instead of the session's tiny suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from benchmark.tracking.views import experiment_pages
from tests.helpers import COMMAND
from tests.system.test_cli import free_port
from tests.system.test_store_outage import start_server, stop

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = os.environ.get("MIMO_BENCH_SCREENSHOTS")
WIDE = {"width": 1600, "height": 1000}


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("needs chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # root in containers
        yield launched
        launched.close()


@pytest.fixture
def served(request, tmp_path):
    """An `mlflow server` on a copy of the store: the session's tiny suite, or MIMO_BENCH_SCREENSHOTS_FROM's."""
    source, _, name = os.environ.get("MIMO_BENCH_SCREENSHOTS_FROM", "").rpartition(":")
    if not source:
        source, name = request.getfixturevalue("experiment").removeprefix("sqlite:///"), "report-tiny"
    store, port = tmp_path / "mlflow.db", free_port()
    shutil.copy(source, store)
    server = start_server(store, tmp_path / "artifacts", port)
    yield f"http://127.0.0.1:{port}", name
    stop(server)


def test_the_printed_link_opens_the_runs_table_with_each_strategys_metrics(browser, served):
    address, name = served
    done = subprocess.run(
        [COMMAND, "report", name, "--tracking-uri", address], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    link = re.search(r"the runs (http\S+)", done.stdout).group(1)
    assert link.startswith(f"{address}/#/experiments/") and "workflowType=machine_learning" in link
    assert dict(experiment_pages(MlflowClient(address), address))[name] == link  # what `mimo-bench ui` prints

    page = browser.new_page(viewport=WIDE)
    page.goto(link)
    header = page.get_by_role("columnheader", name="best/alphabet accuracy")
    header.first.wait_for(timeout=90_000)  # the runs table, with the headline metric columns
    assert "/runs" in page.url and "workflowType=machine_learning" in page.url  # not the GenAI overview
    text = page.inner_text("body")
    assert "Group: normalized" in text and "Group: sum" in text  # grouped by strategy
    assert re.search(r"\d\.\d+\s*\(average\)", text)  # each group's mean metrics show, no column picking needed
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        close = page.get_by_role("button", name="Close")  # the UI's assistant panel opens on a first visit
        if close.count():
            close.first.click()
        page.wait_for_timeout(1500)
        page.screenshot(path=folder / "mlflow-runs-view.png")
        page.locator("label:has(input[value=CHART])").click()
        page.get_by_placeholder("Search metric charts").fill("val/")
        page.wait_for_timeout(20_000)  # every run's history loads before the charts draw
        page.screenshot(path=folder / "mlflow-charts.png")


def test_the_html_report_is_readable_800_px_wide(browser, report):
    _, out = report
    page = browser.new_page(viewport={"width": 800, "height": 1000})
    page.goto((out / "report.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 800  # wide tables scroll in their own box
    assert page.locator(".verdict").bounding_box()["width"] <= 800
    for image in page.locator("img").all():
        assert image.bounding_box()["width"] <= 800
