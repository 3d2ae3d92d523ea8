"""`mimo-bench report`: an experiment's runs turned into a verdict and a trade-off analysis.

First the verdict (which strategy to use, how sure, against what: `benchmark.report.verdict`), then
tables (per-strategy mean ± std and 95% CI over seeds, Δm% and mean rank against a baseline, paired
tests), the Pareto set with each strategy's hypervolume, the comparison with the tuned static front
where the suite asked for it (`benchmark.report.front`), what was run (`benchmark.report.setup`), and
plots; printed, written to a folder (summary.md, summary.csv, report.html, PNGs) and logged on the
parent run.  Statistics live in `benchmark.report.stats`, reading in `benchmark.report.data`, figures in
`benchmark.report.plots`, the tables as text in `benchmark.report.tables`, the page in `benchmark.report.page`.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.api.errors import one_line
from benchmark.api.registry import baseline_strategy
from benchmark.report import plots as report_plots
from benchmark.report.colors import strategy_colors
from benchmark.report.data import ExperimentRuns, best_epoch_values, histories, history_keys, load_runs
from benchmark.report.front import FRONT_LABEL, FrontComparison, compare_to_front, front_sentence, static_settings
from benchmark.report.page import html_page, markdown_page, print_sections
from benchmark.report.setup import Setup, read_setup
from benchmark.report.stats import (
    delta_m,
    hypervolume,
    mean_rank,
    normalized,
    paired_tests,
    pareto_mask,
    strategy_table,
    to_minimization,
)
from benchmark.report.tables import headline, sections
from benchmark.report.verdict import Verdict, decide
from benchmark.tracking.links import experiment_url, run_url, ui_address
from benchmark.tracking.runlog import RunLog
from benchmark.tracking.store import Tracker
from benchmark.tracking.views import headline_key, save_view

LOCAL_UI = "http://127.0.0.1:5000"  # where `mimo-bench ui` serves a local store
FIGURES = {
    "pareto.png": "Pareto fronts per pair of tasks",
    "weights.png": "Loss weight trajectories",
    "learning_curves.png": "Validation learning curves",
    "loss_ratios.png": "Train loss ratios L(e) / L(0)",
    "gradients.png": "Gradient diagnostics",
    "static_front.png": "Strategies against the tuned static front (val)",
}


@dataclass
class Report:
    """Every table of the report, as DataFrames (for notebooks), plus what the text says about them."""

    source: ExperimentRuns
    baseline: str
    space: str  # the metrics the Pareto analysis uses: val (at the best-val epoch, the default) or test
    table: pd.DataFrame  # per strategy: seeds, failed, mean/std/CI per metric, Δm%, mean rank
    tests: pd.DataFrame  # paired tests against the baseline
    points: pd.DataFrame  # every finished run and trial, with ``on_front``
    hypervolumes: pd.DataFrame  # per strategy: points, points on the front, normalized hypervolume
    reference: dict[str, float]  # the hypervolume reference point, per primary metric key
    verdict: Verdict = field(default_factory=lambda: Verdict(""))
    setup: Setup = field(default_factory=Setup)
    front: FrontComparison | None = None  # where the strategies lie against the tuned static front, if run
    front_settings: dict[int, str] = field(default_factory=dict)  # a static point's weights and lr, by its row
    colors: dict[str, str] = field(default_factory=dict)  # label -> its colour in every figure and the UI
    ui: str | None = None  # the MLflow UI's address, where known: the tables link to the runs
    view: str | None = None  # the key of the saved runs-table view of the experiment (`benchmark.tracking.views`)
    notes: list[str] = field(default_factory=list)


def build(source: ExperimentRuns, tracker: Tracker, baseline: str | None = None, space: str = "val") -> Report:
    """The report's tables from the experiment's runs (the figures come with `write`); the Pareto analysis
    in ``space``: val at each run's best-val epoch (selection never looks at test), or test."""
    baseline = baseline or baseline_strategy()
    runs, primary = source.runs, source.primary
    table = strategy_table(runs, source.metrics)
    table["Δm%"] = delta_m(table, baseline, primary)
    table["mean rank"] = mean_rank(table, primary)
    tests = paired_tests(runs, baseline, primary)
    notes = _notes(source, baseline)
    points = pd.concat([runs[runs["counts"]], source.trials], ignore_index=True)
    if space == "val":
        points = best_epoch_values(tracker, points, [m.key("val") for m in primary])
    points = points.dropna(subset=[m.key(space) for m in primary]).reset_index(drop=True)
    hypervolumes, reference = pd.DataFrame(), {}
    if len(points):
        loss = to_minimization(points, primary, space)
        points["on_front"] = pareto_mask(loss)
        scaled, reference_point = normalized(loss)
        sign = [-1.0 if m.higher_is_better else 1.0 for m in primary]
        reference = {m.key(space): float(r * s) for m, r, s in zip(primary, reference_point, sign, strict=True)}
        rows = []
        for label, group in points.groupby("label", sort=False):
            rows.append(
                {
                    "strategy": label,
                    "points": len(group),
                    "on front": int(group["on_front"].sum()),
                    "hypervolume": hypervolume(scaled[group.index.to_numpy()], np.ones(len(primary))),
                }
            )
        hypervolumes = pd.DataFrame(rows).set_index("strategy")
    report = Report(source, baseline, space, table, tests, points, hypervolumes, reference, notes=notes)
    report.verdict = decide(runs, baseline, primary, table["Δm%"], tests)
    report.setup = read_setup(tracker, source)
    _static_front(report, tracker, points)
    report.colors = strategy_colors([*runs["label"], *points.get("label", [])])
    report.ui = ui_address(tracker.uri)
    return report


def _static_front(report: Report, tracker: Tracker, points: pd.DataFrame) -> None:
    """Place the strategies against the suite's tuned static front, if it has one, and say so in the verdict."""
    source, keys = report.source, [m.key("val") for m in report.source.primary]
    if not (source.trials["label"] == FRONT_LABEL).any():
        return
    if report.space != "val":  # the front lives in val space whatever the Pareto analysis uses
        points = best_epoch_values(tracker, pd.concat([source.runs[source.runs["counts"]], source.trials]), keys)
    report.front = compare_to_front(points, source.primary)
    if report.front is None:
        return
    closest = set(report.front.placements["closest"])
    report.front_settings = {
        index: static_settings(tracker.client, report.front.static.loc[index, "run_id"], source.tasks)
        for index in closest
    }
    report.verdict.text += " " + front_sentence(report.front, report.verdict.winner)
    studies = ", ".join(sorted(set(report.front.static["study"])))
    report.setup.settings.append(
        ("static front", f"{len(report.front.static)} trials on seed {report.front.seed} ({studies})")
    )


def _notes(source: ExperimentRuns, baseline: str) -> list[str]:
    notes = list(source.notes)
    if baseline not in set(source.runs["label"]):
        notes.append(f"No '{baseline}' runs in this experiment: Δm% and the paired tests need the baseline.")
    for row in source.runs[~source.runs["counts"]].itertuples():
        notes.append(f"{row.label}/seed-{row.seed} {row.status}: {row.reason or 'no reason recorded'} (excluded).")
    return notes


def write(report: Report, tracker: Tracker, folder: Path) -> list[Path]:
    """summary.md, summary.csv, the PNGs and report.html (images inline, opens offline) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    source = report.source
    images = []
    keys = history_keys(source.runs, source.tasks, source.primary)
    counted = source.runs[source.runs["counts"]]
    history = histories(tracker, counted["run_id"].tolist(), keys)
    colors = report.colors
    drawn = {
        "pareto.png": report_plots.pareto_pairs(
            report.points, source.primary, report.space, colors, folder / "pareto.png"
        ),
        "weights.png": report_plots.weight_trajectories(history, counted, source.tasks, colors, folder / "weights.png"),
        "learning_curves.png": report_plots.learning_curves(
            history, counted, source.primary, colors, folder / "learning_curves.png"
        ),
        "gradients.png": report_plots.gradient_diagnostics(
            history, counted, source.tasks, colors, folder / "gradients.png"
        ),
        "loss_ratios.png": report_plots.loss_ratios(history, counted, source.tasks, colors, folder / "loss_ratios.png"),
        "static_front.png": report.front is not None
        and report_plots.static_front(report.front, colors, folder / "static_front.png"),
    }
    images = [folder / name for name, done in drawn.items() if done]
    title = f"mimo-bench report of {headline(report)}"
    parts = sections(report)
    (folder / "summary.md").write_text(markdown_page(title, parts, [(FIGURES[p.name], p.name) for p in images]))
    (folder / "summary.csv").write_text(report.table.to_csv())
    (folder / "report.html").write_text(html_page(title, parts, [(FIGURES[p.name], p) for p in images]))
    return [folder / "summary.md", folder / "summary.csv", folder / "report.html", *images]


def publish(report: Report, tracker: Tracker, files: list[Path], run_id: str) -> None:
    """The files as artifacts under ``report/`` of ``run_id``, and the verdict and tables as its description
    (the numbers are in ``report/summary.csv``: one-bar charts of them only crowded the chart view),
    each run's colour in the MLflow UI set to its strategy's colour in the figures, and the experiment's
    saved view of its runs table (`benchmark.tracking.views`) written or updated."""
    for path in files:
        tracker.client.log_artifact(run_id, str(path), "report")
    log = RunLog(tracker.client, run_id)
    log.describe(markdown_page(headline(report), sections(report), []))
    for run in report.source.runs.itertuples():  # the UI's charts draw each run in its strategy's colour
        RunLog(tracker.client, run.run_id).color(report.colors[run.label])
    columns = [headline_key(m.task, m.metric) for m in report.source.primary]
    folded = [FRONT_LABEL] if report.front is not None else []
    report.view = save_view(tracker.client, report.source.experiment_id, columns, folded)


def make_report(
    tracker: Tracker,
    experiment: str | None = None,
    run_id: str | None = None,
    baseline: str | None = None,
    space: str = "val",
    out: Path | None = None,
    log: bool = True,
) -> Report:
    """Read, analyse, write (to ``out``, else a temporary folder) and log on the parent run
    (``run_id``, else the experiment's latest suite or study run)."""
    report = build(load_runs(tracker, experiment, run_id), tracker, baseline, space)
    with tempfile.TemporaryDirectory() as temporary:
        files = write(report, tracker, out or Path(temporary))
        parent = report.source.parent_run_id
        if log and parent:
            publish(report, tracker, files, parent)
    return report


def report_at_end(tracker: Tracker, experiment: str, run_id: str | None = None) -> Report | None:
    """The report that `run` and `search` make when they end; a failure here is printed, never raised
    (every run is already safe in the store; `mimo-bench report` can be run again)."""
    try:
        return make_report(tracker, experiment, run_id)
    except Exception as error:  # the suite's results must not be lost to a reporting problem
        print(f"mimo-bench: warning: the report could not be made: {one_line(error)}", file=sys.stderr)
        return None


def strategy_summary(experiment: str, tracking_uri: str | None = None, baseline: str | None = None) -> pd.DataFrame:
    """The per-strategy table as a DataFrame, for notebooks: ``strategy_summary("glyphs")``."""
    from benchmark.tracking.uri import default_tracking_uri

    tracker = Tracker(tracking_uri or default_tracking_uri())
    return build(load_runs(tracker, experiment), tracker, baseline).table


def print_report(report: Report) -> None:
    """The report on the terminal: each task's primary metric (every metric is in summary.md), and where
    to find it in the MLflow UI."""
    print_sections(f"mimo-bench report of {headline(report)}", sections(report, full=False))
    source = report.source
    base = report.ui or LOCAL_UI
    where = "" if report.ui else " (mimo-bench ui)"
    print(f"In the MLflow UI{where}: the runs {experiment_url(base, source.experiment_id, report.view)}")
    if source.parent_run_id:
        print(f"  and this report on the suite's run: {run_url(base, source.experiment_id, source.parent_run_id)}")
