"""The report's tables and notes as text sections (rendered by `benchmark.report.page`), and its headline."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from benchmark.report.page import Section
from benchmark.report.stats import REFERENCE_MARGIN

if TYPE_CHECKING:
    from benchmark.report.analysis import Report


def sections(report: Report, full: bool = True) -> list[Section]:
    """The report as titled tables and notes, rendered to terminal, Markdown and HTML alike
    (``full`` False, for the terminal's width: only each task's primary metric, no table of every run)."""
    primary, table = report.source.primary, report.table
    shown = report.source.metrics if full else primary
    significant = {(r["strategy"], r["task"]) for _, r in report.tests.iterrows() if r["significant"]}
    columns = ["strategy", "seeds", "failed", *(m.title for m in shown), "Δm%", "mean rank"]
    rows = []
    for label, row in table.astype(object).iterrows():
        cells = [
            f"{label} (baseline)" if label == report.baseline else str(label),
            str(row["seeds"]),
            str(row["failed"]),
        ]
        for metric in shown:
            marker = "*" if metric in primary and (label, metric.task) in significant else ""
            cells.append(_cell(row, metric.key()) + marker)
        cells += [_number(row["Δm%"], "+.1f"), _number(row["mean rank"], ".2f")]
        rows.append(cells)
    result = [
        Section(
            f"Test metrics per strategy over seeds: mean ± std (95% CI); * differs from {report.baseline} "
            "(paired t-test over seeds, Holm-adjusted p < 0.05)",
            columns,
            rows,
        )
    ]
    if len(report.tests):
        test_rows = [
            [
                r["strategy"],
                f"{r['task']} {r['metric']}",
                str(r["pairs"]),
                _number(r["mean difference"], ".4g"),
                _number(r["p"], ".3g"),
                _number(r["p (Holm)"], ".3g"),
                "yes" if r["significant"] else "no",
            ]
            for _, r in report.tests.iterrows()
        ]
        result.append(
            Section(
                f"Paired tests against {report.baseline} (test, primary metric per task)",
                ["strategy", "metric", "paired seeds", "mean difference", "p", "p (Holm)", "significant"],
                test_rows,
            )
        )
    if len(report.hypervolumes):
        hv_rows = [
            [str(label), str(r["points"]), str(r["on front"]), f"{r['hypervolume']:.3f}"]
            for label, r in report.hypervolumes.astype(object).iterrows()
        ]
        front = int(report.points["on_front"].sum())
        result.append(
            Section(
                f"Pareto analysis ({report.space} metrics, primary metric per task)",
                ["strategy", "points", "on the front", "hypervolume"],
                hv_rows,
                [
                    f"{front} of {len(report.points)} points (every finished run and search trial) are non-dominated.",
                    "Hypervolume: the volume each strategy's points dominate, with every axis scaled so the best "
                    "observed value is 0 and the reference point is 1 (1.0 = the whole box).",
                    f"Reference point: each task's worst observed value pushed {REFERENCE_MARGIN:.0%} of its range "
                    "further: " + ", ".join(f"{k} = {v:.4g}" for k, v in report.reference.items()) + ".",
                ],
            )
        )
    if full:
        runs = report.source.runs
        run_rows = [
            [
                str(r["label"]),
                str(r["seed"]),
                str(r["status"]),
                *(_number(r[m.key()], ".4g") for m in primary),
                str(r["run_id"])[:8],
            ]
            for _, r in runs.astype(object).iterrows()
        ]
        result.append(
            Section(
                "Every run (the latest per strategy and seed)",
                ["strategy", "seed", "status", *(m.title for m in primary), "run"],
                run_rows,
            )
        )
    if report.notes:
        result.append(Section("Notes", [], [], report.notes))
    return result


def _cell(row: pd.Series, key: str) -> str:
    mean, std = row[f"{key} mean"], row[f"{key} std"]
    if math.isnan(mean):
        return "-"
    if math.isnan(std):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {std:.2g} ({row[f'{key} ci_low']:.4g}–{row[f'{key} ci_high']:.4g})"


def _number(value: float, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def headline(report: Report) -> str:
    """One line: the best strategy by Δm% and by mean rank, and who is on the Pareto front."""
    table = report.table.drop(index=report.baseline, errors="ignore")
    parts = []
    if table["Δm%"].notna().any():
        best = table["Δm%"].idxmax()
        parts.append(f"best Δm% vs {report.baseline}: {best} ({table.loc[best, 'Δm%']:+.1f}%)")
    if report.table["mean rank"].notna().any():
        parts.append(f"best mean rank: {report.table['mean rank'].idxmin()}")
    if len(report.hypervolumes):
        front = report.hypervolumes[report.hypervolumes["on front"] > 0]
        parts.append("on the Pareto front: " + ", ".join(f"{k} ({v})" for k, v in front["on front"].items()))
    return f"{report.source.experiment}: " + "; ".join(parts)
