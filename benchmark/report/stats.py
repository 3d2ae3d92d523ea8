"""The report's statistics: per-strategy summaries over seeds, Δm%, mean rank, paired tests,
Pareto sets and hypervolumes.  Pure functions over pandas frames and numpy arrays.

Δm% (Maninis et al., CVPR 2019, eq. 5; the form used across the multi-task literature):
    Δm% = 100 / T · Σ_t (-1)^{l_t} (M_s,t - M_b,t) / |M_b,t|
over the T tasks' primary metrics (accuracy for classification, MAE for regression), with
l_t = 1 when lower is better, so a positive Δm% is an improvement over the baseline b.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.api.problem import CLASSIFICATION_METRICS, REGRESSION_METRICS

HIGHER_IS_BETTER = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}
PRIMARY = ("accuracy", "mae")  # a task's primary metric: the first of these it has
MIN_PAIRS = 3  # fewest paired seeds a t-test is run on
ALPHA = 0.05
REFERENCE_MARGIN = 0.1  # the hypervolume reference lies 10% of the observed range beyond the worst value


@dataclass(frozen=True)
class TaskMetric:
    """One metric of one task, with its direction."""

    task: str
    metric: str
    higher_is_better: bool

    def key(self, prefix: str = "test") -> str:
        return f"{prefix}/{self.task}/{self.metric}"

    @property
    def title(self) -> str:
        return f"{self.task} {self.metric} {'↑' if self.higher_is_better else '↓'}"


def find_metrics(columns: Sequence[str], prefix: str = "test") -> list[TaskMetric]:
    """Every known metric logged as ``<prefix>/<task>/<metric>`` (losses left out): by task, primary first."""
    found = []
    for column in columns:
        parts = column.split("/")
        if len(parts) == 3 and parts[0] == prefix and parts[2] in HIGHER_IS_BETTER:
            found.append(TaskMetric(parts[1], parts[2], HIGHER_IS_BETTER[parts[2]]))
    order = list(HIGHER_IS_BETTER)
    return sorted(found, key=lambda m: (m.task, m.metric not in PRIMARY, order.index(m.metric)))


def primary_metrics(metrics: Sequence[TaskMetric]) -> list[TaskMetric]:
    """Each task's primary metric (accuracy, else MAE, else its first), in task order."""
    by_task: dict[str, list[TaskMetric]] = {}
    for metric in metrics:
        by_task.setdefault(metric.task, []).append(metric)
    chosen = []
    for candidates in by_task.values():
        names = [m.metric for m in candidates]
        preferred = next((p for p in PRIMARY if p in names), names[0])
        chosen.append(candidates[names.index(preferred)])
    return chosen


def describe(values: Sequence[float]) -> dict[str, float]:
    """n, mean, sample std and the 95% Student-t confidence interval of the mean."""
    array = np.asarray(values, dtype=float)
    n = len(array)
    mean = float(array.mean()) if n else math.nan
    std = float(array.std(ddof=1)) if n > 1 else math.nan
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def strategy_table(runs: pd.DataFrame, metrics: Sequence[TaskMetric], prefix: str = "test") -> pd.DataFrame:
    """One row per strategy label: seeds that count, failed runs, and per metric mean/std/95% CI.

    ``runs`` has one row per run with columns ``label``, ``counts`` (bool) and the metric keys.
    """
    rows = []
    for label, group in runs.groupby("label", sort=False):
        counted = group[group["counts"]]
        row: dict[str, object] = {"strategy": label, "seeds": len(counted), "failed": int((~group["counts"]).sum())}
        for metric in metrics:
            summary = describe(counted[metric.key(prefix)].dropna().tolist())
            for stat in ("mean", "std", "ci_low", "ci_high"):
                row[f"{metric.key(prefix)} {stat}"] = summary[stat]
        rows.append(row)
    columns = ["strategy", "seeds", "failed"]
    columns += [f"{m.key(prefix)} {stat}" for m in metrics for stat in ("mean", "std", "ci_low", "ci_high")]
    return pd.DataFrame(rows, columns=columns).set_index("strategy")  # no rows: a search with trials only


def delta_m(table: pd.DataFrame, baseline: str, primary: Sequence[TaskMetric], prefix: str = "test") -> pd.Series:
    """Δm% of every strategy against ``baseline`` (module docstring); NaN without a baseline row."""
    if baseline not in table.index:
        return pd.Series(math.nan, index=table.index, name="Δm%")
    terms = []
    for metric in primary:
        column = f"{metric.key(prefix)} mean"
        reference = table.loc[baseline, column]
        sign = 1.0 if metric.higher_is_better else -1.0
        terms.append(sign * (table[column] - reference) / abs(reference) * 100.0)
    return pd.concat(terms, axis=1).mean(axis=1).rename("Δm%")


def mean_rank(table: pd.DataFrame, primary: Sequence[TaskMetric], prefix: str = "test") -> pd.Series:
    """Each strategy's rank per task (1 = best mean, ties shared), averaged over tasks."""
    ranks = [table[f"{m.key(prefix)} mean"].rank(ascending=not m.higher_is_better, method="average") for m in primary]
    return pd.concat(ranks, axis=1).mean(axis=1).rename("mean rank")


def paired_tests(
    runs: pd.DataFrame, baseline: str, primary: Sequence[TaskMetric], prefix: str = "test"
) -> pd.DataFrame:
    """Paired t-tests over seeds (same seed = same data split) of each strategy against ``baseline``.

    p-values are Holm-adjusted over every test in the table; fewer than `MIN_PAIRS` pairs are not tested.
    """
    counted = runs[runs["counts"]]
    reference = counted[counted["label"] == baseline].set_index("seed")
    rows = []
    for label in counted["label"].unique():
        if label == baseline:
            continue
        own = counted[counted["label"] == label].set_index("seed")
        seeds = sorted(set(own.index) & set(reference.index))
        for metric in primary:
            key = metric.key(prefix)
            difference = own.loc[seeds, key].to_numpy(float) - reference.loc[seeds, key].to_numpy(float)
            p = math.nan
            if len(seeds) >= MIN_PAIRS:
                p = (
                    0.0
                    if np.ptp(difference) == 0 and difference[0] != 0
                    else float(stats.ttest_rel(own.loc[seeds, key], reference.loc[seeds, key]).pvalue)
                )
            rows.append(
                {
                    "strategy": label,
                    "task": metric.task,
                    "metric": metric.metric,
                    "pairs": len(seeds),
                    "mean difference": float(difference.mean()) if seeds else math.nan,
                    "p": p,
                }
            )
    frame = pd.DataFrame(rows, columns=["strategy", "task", "metric", "pairs", "mean difference", "p"])
    frame["p (Holm)"] = holm(frame["p"].to_numpy(float))
    frame["significant"] = frame["p (Holm)"] < ALPHA
    return frame


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN entries stay NaN and do not count as tests)."""
    adjusted = np.full(len(p_values), math.nan)
    tested = np.flatnonzero(~np.isnan(p_values))
    order = tested[np.argsort(p_values[tested], kind="stable")]
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - position) * p_values[index]))
        adjusted[index] = running
    return adjusted


def to_minimization(points: pd.DataFrame, metrics: Sequence[TaskMetric], prefix: str = "test") -> np.ndarray:
    """Metric columns as an (n, d) array where lower is better on every axis."""
    columns = [points[m.key(prefix)].to_numpy(float) * (-1.0 if m.higher_is_better else 1.0) for m in metrics]
    return np.stack(columns, axis=1)


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Which rows are non-dominated (minimization on every column); duplicates of a front point stay on it."""
    dominated = np.zeros(len(points), dtype=bool)
    for index, point in enumerate(points):
        no_worse = (points <= point).all(axis=1)
        better = (points < point).any(axis=1)
        dominated[index] = (no_worse & better).any()
    return ~dominated


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by ``points`` (minimization) and bounded by ``reference``, exactly.

    Slices along the last axis: between consecutive levels the dominated region is the
    (d-1)-dimensional hypervolume of the points at or below the level.
    """
    points = points[(points < reference).all(axis=1)]
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    points = points[pareto_mask(points)]
    levels = np.unique(points[:, -1])
    volume = 0.0
    for low, high in zip(levels, [*levels[1:], reference[-1]], strict=True):
        below = points[points[:, -1] <= low][:, :-1]
        volume += hypervolume(below, reference[:-1]) * (high - low)
    return volume


def normalized(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points scaled so the ideal point (best value per axis) is 0, and the reference point (1, ..., 1):
    the worst value per axis pushed `REFERENCE_MARGIN` of the observed range further.  Also returns
    the reference in the original units."""
    ideal, worst = points.min(axis=0), points.max(axis=0)
    span = np.where(worst > ideal, worst - ideal, 1.0)
    reference = worst + REFERENCE_MARGIN * span
    return (points - ideal) / (reference - ideal), reference
