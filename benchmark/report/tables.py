"""The report's verdict, tables and notes as text sections (rendered by `benchmark.report.page`), and its headline.

Numbers have fixed decimals per metric (`DECIMALS`: accuracy and F1 3 places, MAE and MSE 2), so columns
line up, and the best value of each task's metric is marked (bold) in every table that shows it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from benchmark.report.front import front_section
from benchmark.report.page import Section
from benchmark.report.stats import MIN_PAIRS, REFERENCE_MARGIN, TaskMetric
from benchmark.tracking.filters import tag_filter
from benchmark.tracking.links import filtered_runs_url, run_url

if TYPE_CHECKING:
    from benchmark.report.analysis import Report

DECIMALS = {"accuracy": 3, "f1": 3, "mae": 2, "mse": 2}


def decimals(metric: str) -> int:
    return DECIMALS.get(metric, 3)


def sections(report: Report, full: bool = True) -> list[Section]:
    """The report as the verdict, titled tables and notes, rendered to terminal, Markdown and HTML alike
    (``full`` False, for the terminal's width: only each task's primary metric, no table of every run
    nor of the settings)."""
    result = [Section("Verdict", [], [], paragraph=report.verdict.text), strategy_section(report, full)]
    result.append(tests_section(report))
    if len(report.hypervolumes):
        result.append(pareto_section(report))
    if report.front is not None and len(report.front.placements):
        result.append(front_section(report.front, report.front_settings, decimals))
    if full and report.setup.settings:
        result.append(Section("What was run", ["", "setting"], [list(row) for row in report.setup.settings]))
        result.append(Section("Strategies", ["strategy", "name (options)"], [list(r) for r in report.setup.strategies]))
    if full:
        result.append(runs_section(report))
    if report.notes:
        result.append(Section("Notes", [], [], report.notes))
    return result


def strategy_section(report: Report, full: bool) -> Section:
    primary, table = report.source.primary, report.table
    shown = report.source.metrics if full else primary
    significant = {(r["strategy"], r["task"]) for _, r in report.tests.iterrows() if r["significant"]}
    columns = ["strategy", "seeds", "failed", *(m.title for m in shown), "Δm%", "mean rank"]
    rows, links = [], []
    for label, row in table.astype(object).iterrows():
        cells = [
            f"{label} (baseline)" if label == report.baseline else str(label),
            str(row["seeds"]),
            str(row["failed"]),
        ]
        for metric in shown:
            marker = "*" if metric in primary and (label, metric.task) in significant else ""
            cells.append(_cell(row, metric) + marker)
        cells += [_number(row["Δm%"], "+.1f"), _number(row["mean rank"], ".2f")]
        rows.append(cells)
        links.append(_strategy_link(report, str(label)))
    bold = _best_cells(table, [f"{m.key()} mean" for m in shown], [m.higher_is_better for m in shown], 3)
    bold |= _best_cells(table, ["Δm%", "mean rank"], [True, False], 3 + len(shown))
    title = (
        f"Test metrics per strategy over seeds: mean ± std (95% CI); best in bold; * differs from {report.baseline} "
        "(paired t-test over seeds, Holm-adjusted p < 0.05)"
    )
    return Section(title, columns, rows, bold=bold, links=links)


def tests_section(report: Report) -> Section:
    """The paired tests that ran, and one line for the strategies too few seeds leave untested."""
    tests = report.tests
    tested = tests[tests["pairs"] >= MIN_PAIRS]
    untested = list(dict.fromkeys(tests.loc[tests["pairs"] < MIN_PAIRS, "strategy"]))
    title = f"Paired tests against {report.baseline} (test, primary metric per task)"
    notes = []
    if untested:
        notes.append(
            f"Not tested, fewer than {MIN_PAIRS} seeds paired with {report.baseline}: {', '.join(untested)} "
            "(add seeds to the suite to test them)."
        )
    if tests.empty:
        notes.append(f"No paired tests: no strategy shares seeds with {report.baseline}.")
    rows = [
        [
            r["strategy"],
            f"{r['task']} {r['metric']}",
            str(r["pairs"]),
            _number(r["mean difference"], f".{decimals(r['metric'])}f"),
            _number(r["p"], ".3g"),
            _number(r["p (Holm)"], ".3g"),
            "yes" if r["significant"] else "no",
        ]
        for _, r in tested.iterrows()
    ]
    columns = ["strategy", "metric", "paired seeds", "mean difference", "p", "p (Holm)", "significant"]
    return Section(title, columns if rows else [], rows, notes)


def pareto_section(report: Report) -> Section:
    hv = report.hypervolumes
    rows = [
        [str(label), str(r["points"]), str(r["on front"]), f"{r['hypervolume']:.3f}"]
        for label, r in hv.astype(object).iterrows()
    ]
    front = int(report.points["on_front"].sum())
    return Section(
        f"Pareto analysis ({report.space} metrics, primary metric per task)",
        ["strategy", "points", "on the front", "hypervolume"],
        rows,
        [
            f"{front} of {len(report.points)} points (every finished run and search trial) are non-dominated.",
            "Hypervolume: the volume each strategy's points dominate, with every axis scaled so the best "
            "observed value is 0 and the reference point is 1 (1.0 = the whole box).",
            f"Reference point: each task's worst observed value pushed {REFERENCE_MARGIN:.0%} of its range "
            "further: " + ", ".join(f"{k} = {v:.4g}" for k, v in report.reference.items()) + ".",
        ],
        bold=_best_cells(hv, ["on front", "hypervolume"], [True, True], 2),
    )


def runs_section(report: Report) -> Section:
    runs, primary = report.source.runs, report.source.primary
    rows, links = [], []
    for _, r in runs.astype(object).iterrows():
        values = [_number(r[m.key()], f".{decimals(m.metric)}f") for m in primary]
        rows.append([str(r["label"]), str(r["seed"]), str(r["status"]), *values, str(r["run_id"])[:8]])
        links.append(run_url(report.ui, report.source.experiment_id, r["run_id"]) if report.ui else None)
    counted = runs[runs["counts"]]  # runs has a fresh index: labels are row positions
    bold = {
        (int(index), 3 + column)
        for column, metric in enumerate(primary)
        for index in _best_rows(counted[metric.key()], metric.higher_is_better)
    }
    return Section(
        "Every run (the latest per strategy and seed)",
        ["strategy", "seed", "status", *(m.title for m in primary), "run"],
        rows,
        bold=bold,
        links=links,
    )


def _strategy_link(report: Report, label: str) -> str | None:
    if not report.ui:
        return None
    return filtered_runs_url(report.ui, report.source.experiment_id, tag_filter(strategy=label))


def _best_rows(values: pd.Series, higher_is_better: bool) -> list:
    """The index labels holding the best value (all of them on a tie); none when fewer than two values are
    known or all are equal."""
    values = pd.to_numeric(values, errors="coerce")
    if values.notna().sum() < 2:
        return []
    best = values.max() if higher_is_better else values.min()
    winners = values.index[values == best]
    return [] if len(winners) == values.notna().sum() else list(winners)  # all equal: nothing to mark


def _best_cells(table: pd.DataFrame, columns: list[str], higher: list[bool], first_column: int) -> set[tuple[int, int]]:
    """(row, column) positions of the best value of each listed column of ``table``."""
    positions = {label: index for index, label in enumerate(table.index)}
    return {
        (positions[label], first_column + offset)
        for offset, (column, up) in enumerate(zip(columns, higher, strict=True))
        for label in _best_rows(table[column], up)
    }


def _cell(row: pd.Series, metric: TaskMetric) -> str:
    key, places = metric.key(), decimals(metric.metric)
    mean, std = row[f"{key} mean"], row[f"{key} std"]
    if math.isnan(mean):
        return "-"
    if math.isnan(std):
        return f"{mean:.{places}f}"
    return (
        f"{mean:.{places}f} ± {std:.{places}f} ({row[f'{key} ci_low']:.{places}f}–{row[f'{key} ci_high']:.{places}f})"
    )


def _number(value: float, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def headline(report: Report) -> str:
    """One line: the experiment, how many strategies, seeds and runs it covers."""
    runs = report.source.runs
    failed = int((~runs["counts"]).sum())
    parts = [
        f"{runs['label'].nunique()} strategies",
        f"{runs['seed'].nunique()} seed(s)",
        f"{int(runs['counts'].sum())} runs",
    ]
    if failed:
        parts.append(f"{failed} failed")
    if len(report.source.trials):
        parts.append(f"{len(report.source.trials)} search trials")
    return f"{report.source.experiment}: " + ", ".join(parts)
