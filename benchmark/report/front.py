"""The tuned static-weights test (Xin et al., NeurIPS 2022): where each strategy lies against the front that
tuned static weightings trace, in val space at each run's best-val epoch (the test split is never looked at).

The static points are the trials of the suite's ``[compare] static_front`` study (`benchmark.search.front`),
labelled `FRONT_LABEL`, trained on one seed; each strategy is placed by its run on that seed (the same
train/val split).  Every axis is a task's primary val metric, turned into a loss and scaled as in the
Pareto analysis (`benchmark.report.stats.normalized` over the static and strategy points together: 0 is the
best value seen, 1 the reference point).  The front F is the set of non-dominated static points.  For a
strategy's point p:

- **margin** m(p) = min_{f in F} max_i (f_i - p_i), the additive ε-indicator (Zitzler et al., IEEE TEC
  2003): p may worsen by m on every axis (m > 0) before a static point dominates it, or must improve by -m
  on every axis (m <= 0) to leave the region the static weights dominate; in fractions of each axis's range.
- **where**: inside the front when a static point dominates p (as good on every task, better on one: m <= 0,
  and m = 0 when they tie on a task, as accuracies on a small split often do); else beyond it when m >
  `TOLERANCE` (a trade-off no static weighting reached), else on it.
- **hypervolume**: what p adds to the front's, HV(F ∪ {p}) - HV(F) (0 inside), and HV({p}) - HV(F) (below 0:
  p alone dominates less than the static front does), in the unit box.
- **closest static point**: the front's point nearest to p (Euclidean, scaled axes): its weights, lr and metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.report.page import Section
from benchmark.report.stats import TaskMetric, hypervolume, normalized, pareto_mask, to_minimization

FRONT_LABEL = "static-front"  # = benchmark.suite.compare.STATIC_FRONT_LABEL (report and suite are apart)
TOLERANCE = 0.01


@dataclass
class FrontComparison:
    """The static points (``front`` marks the non-dominated) and each strategy's placement against them."""

    seed: int
    static: pd.DataFrame  # every static trial: run_id, trial, val metrics, on_front
    placements: pd.DataFrame  # per strategy: label, run_id, where, margin, hv_added, hv_difference, closest
    metrics: list[TaskMetric]  # the val axes
    names: dict[str, str] = field(default_factory=dict)  # label -> registered strategy name of the placed runs


def margin(point: np.ndarray, front: np.ndarray) -> float:
    """The additive ε-indicator of ``point`` against ``front`` (minimization, module docstring)."""
    return float(np.min(np.max(front - point, axis=1)))


def where(point: np.ndarray, front: np.ndarray, tolerance: float = TOLERANCE) -> str:
    """Inside when a front point dominates ``point``; else beyond when its margin exceeds ``tolerance``, else on."""
    dominated = ((front <= point).all(axis=1) & (front < point).any(axis=1)).any()
    return "inside" if dominated else "beyond" if margin(point, front) > tolerance else "on"


def place(strategies: pd.DataFrame, static: pd.DataFrame, metrics: Sequence[TaskMetric]) -> pd.DataFrame:
    """Each strategy point (rows of ``strategies``: label, run_id, val metrics) against the static points'
    front, with its val metrics; ``static`` gains ``on_front``.  Pure (module docstring)."""
    loss = to_minimization(pd.concat([static, strategies], ignore_index=True), metrics, "val")
    scaled, _ = normalized(loss)
    ones = np.ones(len(metrics))
    static_scaled, own_scaled = scaled[: len(static)], scaled[len(static) :]
    on_front = pareto_mask(static_scaled)
    static["on_front"] = on_front
    front = static_scaled[on_front]
    front_volume = hypervolume(front, ones)
    rows = []
    for (_, row), point in zip(strategies.iterrows(), own_scaled, strict=True):
        value = margin(point, front)
        nearest = int(np.argmin(np.linalg.norm(front - point, axis=1)))
        rows.append(
            {
                "label": row["label"],
                "run_id": row["run_id"],
                "where": where(point, front),
                "margin": value,
                "hv_added": hypervolume(np.vstack([front, point]), ones) - front_volume,
                "hv_difference": hypervolume(point[None, :], ones) - front_volume,
                "closest": static.index[on_front][nearest],
                **{m.key("val"): row[m.key("val")] for m in metrics},
            }
        )
    columns = ["label", "run_id", "where", "margin", "hv_added", "hv_difference", "closest"]
    return pd.DataFrame(rows, columns=columns + [m.key("val") for m in metrics])


def compare_to_front(points: pd.DataFrame, metrics: Sequence[TaskMetric]) -> FrontComparison | None:
    """The comparison from ``points`` (every counted run, ``kind`` run, and search trial, ``kind`` trial, with
    its val metrics at its best epoch); None when the experiment has no static front."""
    keys = [m.key("val") for m in metrics]
    points = points.dropna(subset=keys)
    static = points[(points["label"] == FRONT_LABEL) & (points["kind"] == "trial")].reset_index(drop=True)
    if static.empty:
        return None
    seed = int(static["seed"].mode().iloc[0])
    own = points[(points["kind"] == "run") & (points["seed"] == seed)].reset_index(drop=True)
    names = dict(zip(own["label"], own["name"], strict=True)) if "name" in own else {}
    return FrontComparison(seed, static, place(own, static, metrics), list(metrics), names)


def static_settings(client, run_id: str, tasks: Sequence[str]) -> str:
    """A static trial's weights and lr, as its run's params record them."""
    params = client.get_run(run_id).data.params
    weights = ", ".join(f"{t} {float(params.get(f'strategy.weights.{t}', 'nan')):.3g}" for t in tasks)
    return f"{weights}; lr {float(params.get('optimizer.lr', 'nan')):.2g}"


def front_sentence(front: FrontComparison, winner: str | None) -> str:
    """One sentence for the verdict: where the strategies lie against the static front."""
    if front.placements.empty:
        return f"No strategy has a run on seed {front.seed}, the seed of the static front: none could be placed."
    groups = {
        kind: list(front.placements.loc[front.placements["where"] == kind, "label"])
        for kind in ("beyond", "on", "inside")
    }
    text = f"Against the front of {len(front.static)} tuned static weightings (val metrics, seed {front.seed}): "
    parts = []
    for kind, phrase in (("beyond", "beyond it"), ("on", "on it"), ("inside", "inside it")):
        if groups[kind]:
            parts.append(f"{', '.join(groups[kind])} {'lies' if len(groups[kind]) == 1 else 'lie'} {phrase}")
    text += "; ".join(parts)
    static_beyond = [label for label in groups["beyond"] if (front.names.get(label) == "static")]
    if static_beyond:  # the suite's own static weighting beats the searched ones: the search fell short
        text += (
            f"; as the suite's own static weighting ({', '.join(static_beyond)}) is among them, {len(front.static)} "
            "trials do not trace the static front well: give [compare] static_front more trials"
        )
    elif winner in groups["inside"]:
        text += f"; a tuned static weighting does at least as well as {winner} on every task and better on one"
    elif winner in groups["beyond"]:
        text += f"; {winner} reaches a trade-off no static weighting did"
    return text + "."


def front_section(front: FrontComparison, settings: dict[int, str], decimals) -> Section:
    """The comparison as a table: per strategy where it lies, how far, and the closest static point
    (``settings``: a static point's weights and lr by its row; ``decimals``: places per metric name)."""
    columns = ["strategy", "where", "margin", "HV added", "HV − HV(front)", "closest static point"]
    columns += [f"{m.task} {m.metric} (own / static)" for m in front.metrics]
    rows = []
    for _, row in front.placements.iterrows():
        static = front.static.loc[row["closest"]]
        cells = [str(row["label"]), str(row["where"]), f"{row['margin']:+.1%}", f"{row['hv_added']:.3f}"]
        cells += [f"{row['hv_difference']:+.3f}", settings.get(row["closest"], "?")]
        for metric in front.metrics:
            places = decimals(metric.metric)
            cells.append(f"{row[metric.key('val')]:.{places}f} / {static[metric.key('val')]:.{places}f}")
        rows.append(cells)
    notes = [
        f"The front: the non-dominated {int(front.static['on_front'].sum())} of {len(front.static)} static weightings "
        f"(weights on the simplex, drawn log-uniformly, and the shared lr searched by Optuna), trained on seed "
        f"{front.seed}; every "
        "strategy by its run on that seed; val metrics at each run's best-val epoch (test is never used).",
        "Margin: the additive ε-indicator, in fractions of each task's range: how much the strategy could worsen "
        "on every task before a static point dominates it (+), or must improve to escape (−; 0 when it ties a "
        f"dominating static point on a task). Inside: dominated by a static point; beyond: not dominated and a "
        f"margin over {TOLERANCE:.0%}; on: the rest. HV added: the hypervolume the strategy adds to the front's "
        "(unit box).",
    ]
    return Section("Against the tuned static front (Xin et al., NeurIPS 2022)", columns, rows, notes)
