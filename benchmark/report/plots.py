"""The report's figures (matplotlib, PNG): Pareto scatters, weight trajectories, learning curves,
gradient diagnostics.  Each function draws one figure into ``path`` and returns whether it drew.

Every strategy keeps its colour across the figures (`benchmark.report.colors`); curves over epochs are the
mean over seeds with a band of ± one standard deviation (where there are two seeds or more).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from benchmark.report.stats import TaskMetric, pareto_mask, to_minimization  # noqa: E402

DPI = 110
TASK_STYLES = ("-", "--", ":", "-.")  # the weight panels: one colour (the strategy's), a line style per task
BAND_ALPHA = 0.18


def _save(figure, path: Path) -> bool:
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return True


def pareto_pairs(
    points: pd.DataFrame, primary: list[TaskMetric], prefix: str, colors: dict[str, str], path: Path
) -> bool:
    """Per pair of tasks: every run (trials as crosses), that pair's Pareto front, each strategy's mean ± std."""
    pairs = list(combinations(primary, 2))
    if not pairs or points.empty:
        return False
    labels = list(dict.fromkeys(points["label"]))
    figure, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), squeeze=False, layout="constrained")
    for axis, (x, y) in zip(axes[0], pairs, strict=True):
        for label in labels:
            own = points[points["label"] == label]
            for kind, marker, alpha in (("run", "o", 0.55), ("trial", "x", 0.35)):
                chosen = own[own["kind"] == kind]
                axis.scatter(
                    chosen[x.key(prefix)], chosen[y.key(prefix)], color=colors[label], marker=marker, alpha=alpha, s=22
                )
            runs = own[own["kind"] == "run"]
            if len(runs):
                axis.errorbar(
                    runs[x.key(prefix)].mean(),
                    runs[y.key(prefix)].mean(),
                    xerr=runs[x.key(prefix)].std(),
                    yerr=runs[y.key(prefix)].std(),
                    color=colors[label],
                    marker="D",
                    markersize=8,
                    markeredgecolor="black",
                    capsize=3,
                    label=label,
                )
        front = points[pareto_mask(to_minimization(points, [x, y], prefix))]
        front = front.sort_values(x.key(prefix), ascending=not x.higher_is_better)
        axis.plot(
            front[x.key(prefix)],
            front[y.key(prefix)],
            color="black",
            linewidth=1.2,
            marker="o",
            markerfacecolor="none",
            markersize=9,
            drawstyle="steps-post",
            label="Pareto front (this pair)",
        )
        axis.set_xlabel(f"{prefix} {x.title}")
        axis.set_ylabel(f"{prefix} {y.title}")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle("Every run (o) and search trial (x); diamonds: strategy mean ± std over seeds")
    return _save(figure, path)


def _mean_curves(history: pd.DataFrame, runs: pd.DataFrame, key: str) -> dict[str, pd.DataFrame]:
    """Per strategy label: the mean, standard deviation and count over its runs of metric ``key`` per epoch."""
    chosen = history[history["key"] == key].merge(runs[["run_id", "label"]], on="run_id")
    return {
        label: group.groupby("step")["value"].agg(["mean", "std", "count"])
        for label, group in chosen.groupby("label", sort=False)
    }


def _band(axis, curve: pd.DataFrame, color: str, label: str | None = None, style: str = "-") -> None:
    """The mean line, and ± one standard deviation over seeds as a band where two seeds or more ran."""
    axis.plot(curve.index, curve["mean"].to_numpy(), color=color, linestyle=style, label=label)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs
    spread = curve[curve["count"] > 1]
    if len(spread):
        low, high = spread["mean"] - spread["std"], spread["mean"] + spread["std"]
        axis.fill_between(spread.index, low.to_numpy(), high.to_numpy(), color=color, alpha=BAND_ALPHA, linewidth=0)


def weight_trajectories(
    history: pd.DataFrame, runs: pd.DataFrame, tasks: list[str], colors: dict[str, str], path: Path
) -> bool:
    """One panel per strategy, in its colour: each task's loss weight per epoch (a line style per task;
    mean over seeds, band ± one std)."""
    labels = [label for label in dict.fromkeys(runs["label"])]
    if history[history["key"].str.startswith("weight/")].empty:
        return False
    columns = min(3, len(labels))
    rows = -(-len(labels) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False, sharex=True, layout="constrained"
    )
    for axis, label in zip(axes.flat, labels, strict=False):
        own = runs[runs["label"] == label]
        for index, task in enumerate(tasks):
            curve = _mean_curves(history, own, f"weight/{task}").get(label)
            if curve is not None:
                _band(axis, curve, colors[label], task, TASK_STYLES[index % len(TASK_STYLES)])
        values = history[history["key"].str.startswith("weight/") & history["run_id"].isin(own["run_id"])]["value"]
        if len(values) and (values > 0).all() and values.max() / values.min() > 50:
            axis.set_yscale("log")
        axis.set_title(label, color=colors[label], fontweight="bold")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(labels) :]:
        axis.set_visible(False)
    axes[0][0].set_ylabel("loss weight")
    for axis in list(axes.flat)[: len(labels)]:
        axis.legend(fontsize=7)
    figure.suptitle("Task loss weights per epoch (epoch mean of the effective weights; mean ± std over seeds)")
    return _save(figure, path)


def loss_ratios(
    history: pd.DataFrame, runs: pd.DataFrame, tasks: list[str], colors: dict[str, str], path: Path
) -> bool:
    """GradNorm's figure of merit: per task L_t(e) / L_t(0) and their sum over tasks, per epoch (mean over seeds,
    band ± one std); L_t(e) is the epoch's mean train loss, L_t(0) the initial net's on the train split."""
    initial = history[history["key"].str.endswith("/initial_loss")]
    if initial.empty:
        return False
    start = {(row.run_id, row.key.split("/")[1]): row.value for row in initial.itertuples()}
    losses = history[history["key"].isin([f"train/{t}/loss" for t in tasks])].copy()
    losses["task"] = losses["key"].str.split("/").str[1]
    losses["ratio"] = losses["value"] / [
        max(start.get(pair, float("nan")), 1e-12) for pair in zip(losses["run_id"], losses["task"], strict=True)
    ]
    losses = losses.merge(runs[["run_id", "label"]], on="run_id")
    panels = [*tasks, "sum over tasks"]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6), squeeze=False, layout="constrained")
    summed = losses.groupby(["label", "run_id", "step"], sort=False)["ratio"].sum().reset_index()
    for axis, panel in zip(axes[0], panels, strict=True):
        chosen = summed if panel == "sum over tasks" else losses[losses["task"] == panel]
        start_value = len(tasks) if panel == "sum over tasks" else 1.0
        for label, group in chosen.groupby("label", sort=False):
            curve = group.groupby("step")["ratio"].agg(["mean", "std", "count"])
            curve.loc[0] = [start_value, 0.0, 1]
            _band(axis, curve.sort_index(), colors[label], label)
        axis.set_title(panel if panel == "sum over tasks" else f"{panel}: L(e) / L(0)")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle("Train loss relative to the initial net's, L_t(e) / L_t(0) (mean over seeds; epoch 0 = 1)")
    return _save(figure, path)


def learning_curves(
    history: pd.DataFrame, runs: pd.DataFrame, primary: list[TaskMetric], colors: dict[str, str], path: Path
) -> bool:
    """One panel per task: each strategy's val primary metric per epoch (mean over seeds, band ± one std)."""
    if history[history["key"].str.startswith("val/")].empty:
        return False
    figure, axes = plt.subplots(1, len(primary), figsize=(4.8 * len(primary), 3.8), squeeze=False, layout="constrained")
    for axis, metric in zip(axes[0], primary, strict=True):
        for label, curve in _mean_curves(history, runs, metric.key("val")).items():
            _band(axis, curve, colors[label], label)
        axis.set_title(f"val {metric.title}")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle("Validation learning curves (mean ± std over seeds)")
    return _save(figure, path)


def gradient_diagnostics(
    history: pd.DataFrame, runs: pd.DataFrame, tasks: list[str], colors: dict[str, str], path: Path
) -> bool:
    """Per task the gradient norm at the last shared layer; per pair the cosine between task gradients."""
    grad_keys = list(dict.fromkeys(history.loc[history["key"].str.startswith("grad/"), "key"]))
    if not grad_keys:
        return False
    norms = [k for k in grad_keys if k.startswith("grad/norm/")]
    cosines = [k for k in grad_keys if k.startswith("grad/cosine/")]
    rows = [row for row in (norms, cosines) if row]  # norms on top, the pairs' cosines below
    columns = max(len(row) for row in rows)
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(4.4 * columns, 3.4 * len(rows)), squeeze=False, layout="constrained"
    )
    for axis in axes.flat[len(rows[0]) : columns]:  # a shorter first row leaves blanks
        axis.set_visible(False)
    if len(rows) > 1:
        for axis in axes[1][len(rows[1]) :]:
            axis.set_visible(False)
    placed = [(axes[r][c], key) for r, row in enumerate(rows) for c, key in enumerate(row)]
    for axis, key in placed:
        for label, curve in _mean_curves(history, runs, key).items():
            _band(axis, curve, colors[label], label)
        if key in cosines:
            axis.axhline(0.0, color="black", linewidth=0.8)
            axis.set_title(f"cosine {key.removeprefix('grad/cosine/')} (< 0: conflict)")
        else:
            axis.set_yscale("log")
            axis.set_title(f"gradient norm, {key.removeprefix('grad/norm/')}")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle("Task gradients at the last shared layer (epoch means; mean ± std over seeds)")
    return _save(figure, path)


MARKERS = {"beyond": "^", "on": "o", "inside": "v"}


def static_front(front, colors: dict[str, str], path: Path) -> bool:
    """Per pair of tasks: the static trials (grey), their front in that pair, and each strategy's run on the
    front's seed (its colour; ▲ beyond the full front, ● on it, ▼ inside it)."""
    pairs = list(combinations(front.metrics, 2))
    if not pairs or front.placements.empty:
        return False
    figure, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), squeeze=False, layout="constrained")
    for axis, (x, y) in zip(axes[0], pairs, strict=True):
        static = front.static
        axis.scatter(static[x.key("val")], static[y.key("val")], color="0.6", marker="x", s=24, label="static trials")
        mask = pareto_mask(to_minimization(static, [x, y], "val"))
        line = static[mask].sort_values(x.key("val"), ascending=not x.higher_is_better)
        axis.plot(line[x.key("val")], line[y.key("val")], color="0.3", linestyle="--", drawstyle="steps-post")
        for _, row in front.placements.iterrows():
            axis.scatter(
                row[x.key("val")],
                row[y.key("val")],
                color=colors.get(row["label"], "black"),
                marker=MARKERS[row["where"]],
                s=70,
                edgecolors="black",
                label=f"{row['label']} ({row['where']})",
            )
        axis.set_xlabel(f"val {x.title}")
        axis.set_ylabel(f"val {y.title}")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(
        f"Strategies (seed {front.seed}) against {len(front.static)} tuned static weightings; dashed: the pair's "
        "static front; ▲ beyond, ● on, ▼ inside the full front"
    )
    return _save(figure, path)
