"""End-of-suite tables: one row per run, and per strategy the mean ± std over seeds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Protocol

from benchmark.api.problem import TaskSpec


class Outcome(Protocol):
    """What the tables read from a run's outcome (see `benchmark.runner.RunOutcome`)."""

    label: str
    seed: int
    status: str
    test_metrics: dict[str, float]
    seconds: float
    reason: str
    counts: bool  # whether its metrics count in the results (finished now or earlier)


def metric_columns(tasks: Sequence[TaskSpec]) -> list[tuple[str, str]]:
    """(column title, metric key) for every test metric of every task."""
    return [(f"{t.name} {m}", f"test/{t.name}/{m}") for t in tasks for m in t.metrics]


def run_rows(outcomes: Sequence[Outcome], tasks: Sequence[TaskSpec]) -> tuple[list[str], list[list[str]]]:
    """One row per run: strategy, seed, status, each test metric, wall time."""
    columns = metric_columns(tasks)
    rows = [
        [o.label, str(o.seed), o.status, *(_number(o.test_metrics.get(key)) for _, key in columns), f"{o.seconds:.0f}s"]
        for o in outcomes
    ]
    return ["strategy", "seed", "status", *(title for title, _ in columns), "time"], rows


def strategy_rows(outcomes: Sequence[Outcome], tasks: Sequence[TaskSpec]) -> tuple[list[str], list[list[str]]]:
    """One row per strategy configuration: mean ± std over its finished seeds; failed runs counted apart."""
    columns = metric_columns(tasks)
    labels = list(dict.fromkeys(o.label for o in outcomes))
    rows = []
    for label in labels:
        runs = [o for o in outcomes if o.label == label]
        finished = [o for o in runs if o.counts]
        cells = [_mean_std([o.test_metrics[key] for o in finished]) for _, key in columns]
        rows.append([label, str(len(finished)), str(len(runs) - len(finished)), *cells])
    return ["strategy", "seeds", "failed", *(title for title, _ in columns)], rows


def markdown(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def summary_markdown(outcomes: Sequence[Outcome], tasks: Sequence[TaskSpec]) -> str:
    """The parent run's description: the counts, the per-strategy table, then every run."""
    tables = [markdown(*strategy_rows(outcomes, tasks)), markdown(*run_rows(outcomes, tasks))]
    return "\n\n".join([counts_line(outcomes), *tables])


def print_summary(
    title: str, outcomes: Sequence[Outcome], tasks: Sequence[TaskSpec], per_strategy: bool = True
) -> None:
    """Every run's test metrics, then (``per_strategy``, several seeds) mean ± std per strategy, then counts."""
    from rich.console import Console
    from rich.markup import escape

    from benchmark.report.page import summary_table

    console = Console()
    if not console.is_terminal:
        console = Console(width=240)  # piped output: never cut the table to 80 columns
    console.print(summary_table(f"{title}: test metrics per run (best-val epoch)", *run_rows(outcomes, tasks)))
    if per_strategy and len({o.seed for o in outcomes}) > 1:
        console.print(summary_table(f"{title}: mean ± std over seeds", *strategy_rows(outcomes, tasks)))
    console.print(counts_line(outcomes))
    failed = [o for o in outcomes if o.status == "FAILED"]
    if failed:
        reasons = "; ".join(f"{o.label}/seed-{o.seed}: {o.reason}" for o in failed)
        console.print(f"[red]{len(failed)} run(s) failed[/red]: {escape(reasons)}")


def counts_line(outcomes: Sequence[Outcome]) -> str:
    """'12 done earlier, 6 run now, 1 failed, 2 run by other workers' (zero counts left out, except 'run now')."""
    statuses = ("EARLIER", "FINISHED", "FAILED", "ELSEWHERE")
    count = {status: sum(o.status == status for o in outcomes) for status in statuses}
    parts = [f"{count['EARLIER']} done earlier"] if count["EARLIER"] else []
    parts.append(f"{count['FINISHED']} run now")
    if count["FAILED"]:
        parts.append(f"{count['FAILED']} failed")
    if count["ELSEWHERE"]:
        parts.append(f"{count['ELSEWHERE']} run by other workers")
    return ", ".join(parts)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"
