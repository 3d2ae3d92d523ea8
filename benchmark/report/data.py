"""The report's input: an experiment's runs read from MLflow into pandas.

The report covers one definition per strategy label (a run's ``definition`` tag: its run key without
the seed), never a mix: given a parent run, the definitions and seeds its suite covered (the runs it
trained and those it skipped as done earlier, `benchmark.plan.coverage_tags`); given an experiment,
each label's latest definition.  A note says what it leaves out, and when labels were trained under
different settings.  Per (label, seed) it takes the latest run that finished, else the latest that
failed (reported as failed, excluded from the statistics).  Search trials are read too (a study
parent's own only); they join the Pareto analysis, not the per-strategy table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from benchmark.api.errors import MimoBenchError, did_you_mean
from benchmark.report.stats import TaskMetric, find_metrics, primary_metrics
from benchmark.tracking.filters import best_epoch_for, tag_filter
from benchmark.tracking.store import Tracker

ENDED = ("FINISHED", "FAILED", "KILLED")


@dataclass
class ExperimentRuns:
    """What the report reads: the runs, the trials, the metrics found and where to attach the output."""

    experiment: str
    experiment_id: str
    parent_run_id: str | None  # the run the report is logged on (latest suite or study run), if any
    runs: pd.DataFrame  # one row per (label, seed): run_id, label, seed, status, counts, reason, metrics
    trials: pd.DataFrame  # finished search trials, same columns
    metrics: list[TaskMetric]  # every test metric of every task
    notes: list[str] = field(default_factory=list)  # what the selection of runs left out

    @property
    def primary(self) -> list[TaskMetric]:
        return primary_metrics(self.metrics)

    @property
    def tasks(self) -> list[str]:
        return [m.task for m in self.primary]


def load_runs(tracker: Tracker, experiment: str | None = None, run_id: str | None = None) -> ExperimentRuns:
    """The runs of ``experiment`` (a name), or of the experiment of parent run ``run_id``."""
    client = tracker.client
    parent = None
    if run_id:
        try:
            parent = client.get_run(run_id)
        except Exception as error:
            raise MimoBenchError(f"no run {run_id!r} in the tracking store {tracker.uri}") from error
        experiment_id = parent.info.experiment_id
        experiment = client.get_experiment(experiment_id).name
    else:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = [e.name for e in client.search_experiments()]
            known = ", ".join(sorted(names)) or "none yet"
            raise MimoBenchError(
                f"no experiment {experiment!r} in the tracking store {tracker.uri}"
                f"{did_you_mean(experiment, names)}; experiments there: {known}"
            )
        experiment_id = found.experiment_id
    frame = tracker.runs_frame(experiment_id, "tags.run_key != ''")
    if frame.empty:
        raise MimoBenchError(f"experiment {experiment!r} has no strategy runs yet; run a suite first")
    frame = _tidy(frame)
    tags = parent.data.tags if parent else {}
    if "definitions" in tags:
        chosen, notes = covered_runs(frame[frame["kind"] != "trial"], tags, run_id)
    else:
        chosen, notes = latest_definitions(frame[frame["kind"] != "trial"])
    trials = frame[(frame["kind"] == "trial") & (frame["status"] == "FINISHED")]
    if tags.get("kind") == "study":
        trials = trials[trials["study"] == tags.get("study")]
    return ExperimentRuns(
        experiment,
        experiment_id,
        run_id or _latest_parent(client, experiment_id),
        current_runs(chosen),
        trials.reset_index(drop=True),
        find_metrics(frame.columns),
        notes,
    )


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """mlflow.search_runs' columns renamed to what the report uses."""
    metrics = {c: c.removeprefix("metrics.") for c in frame.columns if c.startswith("metrics.")}
    tidy = frame[["run_id", "status", "start_time", *metrics]].rename(columns=metrics)
    tidy["label"] = frame["tags.strategy"]
    tidy["name"] = frame.get("tags.strategy_name", tidy["label"]).fillna(tidy["label"])  # the registered strategy
    tidy["seed"] = pd.to_numeric(frame["tags.seed"]).astype(int)
    tidy["position"] = pd.to_numeric(frame.get("tags.strategy_position", pd.Series(index=frame.index, dtype=float)))
    tidy["kind"] = frame.get("tags.kind", pd.Series("run", index=frame.index)).fillna("run")
    reason = frame.get("tags.failure_reason", pd.Series("", index=frame.index))
    tidy["reason"] = reason.fillna("")
    tidy["counts"] = tidy["status"] == "FINISHED"
    for tag in ("definition", "setup", "study"):  # none on runs from before the report chose by definition
        tidy[tag] = frame.get(f"tags.{tag}", pd.Series("", index=frame.index)).fillna("")
    return tidy


def covered_runs(frame: pd.DataFrame, tags: dict[str, str], run_id: str) -> tuple[pd.DataFrame, list[str]]:
    """The runs of the definitions and seeds that parent run ``run_id`` (with ``tags``) covered, and notes
    on the experiment's other runs left out."""
    definitions, seeds = set(json.loads(tags["definitions"])), set(json.loads(tags["seeds"]))
    covered = frame["definition"].isin(definitions) & frame["seed"].isin(seeds)
    chosen, others = frame[covered], frame[~covered & frame["status"].isin(ENDED)]
    notes = []
    labels = set(chosen["label"])
    for label, group in others[others["label"].isin(labels)].groupby("label", sort=False):
        notes.append(
            f"{label}: {len(group)} run(s) of other definition(s) or seeds left out; "
            f"the report covers the runs of parent run {run_id[:8]}'s suite."
        )
    missing = sorted(set(others["label"]) - labels)
    if missing:
        notes.append(f"Runs of {', '.join(missing)} left out: not in parent run {run_id[:8]}'s suite.")
    return chosen, notes


def latest_definitions(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per label the runs of its latest definition (that of its latest ended run), and notes on the runs of
    older definitions left out and on labels trained under different settings."""
    ended = frame[frame["status"].isin(ENDED)].sort_values("start_time")
    latest = ended.groupby("label", sort=False)[["definition", "setup"]].last()
    keep = ended["definition"] == ended["label"].map(latest["definition"])
    notes = []
    for label, group in ended[~keep].groupby("label", sort=False):
        notes.append(
            f"{label}: {len(group)} run(s) of {group['definition'].nunique()} older definition(s) left out; "
            "the report covers its latest definition (run the suite again for every seed of it)."
        )
    setups = latest[latest["setup"] != ""].groupby("setup", sort=False)
    if setups.ngroups > 1:
        newest = ended[ended["setup"] != ""].iloc[-1]["setup"]
        older = sorted(set(latest.index[(latest["setup"] != newest) & (latest["setup"] != "")]))
        notes.append(
            f"Strategies were trained under different settings (problem, model, optimizer, epochs, batch size, "
            f"device, threads or code): {', '.join(older)} under older settings than the latest run's; comparing "
            "them mixes configurations. Run the suite again to bring every strategy to one."
        )
    return ended[keep], notes


def current_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (label, seed): the latest finished run, else the latest ended one; labels in suite order (runs
    from before the ``strategy_position`` tag: after those, in first-run order)."""
    ended = frame[frame["status"].isin(ENDED)].sort_values("start_time")
    labels = ended.groupby("label", sort=False).agg(position=("position", "min"), start=("start_time", "min"))
    order = list(labels.sort_values(["position", "start"], na_position="last").index)
    chosen = []
    for _, group in ended.groupby(["label", "seed"], sort=False):
        finished = group[group["counts"]]
        chosen.append((finished if len(finished) else group).iloc[-1])
    if not chosen:
        return ended.iloc[0:0]
    runs = pd.DataFrame(chosen)
    runs["order"] = runs["label"].map(order.index)
    return runs.sort_values(["order", "seed"]).drop(columns="order").reset_index(drop=True)


def _latest_parent(client, experiment_id: str) -> str | None:
    """The latest suite or study run of the experiment (a static front's study is part of its suite's run)."""
    found = list(
        client.search_runs(
            [experiment_id], tag_filter(kind="suite"), max_results=1, order_by=["attributes.start_time DESC"]
        )
    )
    studies = client.search_runs(
        [experiment_id], tag_filter(kind="study"), max_results=50, order_by=["attributes.start_time DESC"]
    )
    found += [run for run in studies if "compare" not in run.data.tags][:1]
    return max(found, key=lambda run: run.info.start_time).info.run_id if found else None


def histories(tracker: Tracker, run_ids: list[str], keys: list[str]) -> pd.DataFrame:
    """Long frame (run_id, key, step, value) of every listed metric's per-epoch values."""
    rows = []
    for run_id in run_ids:
        for key in keys:
            for point in tracker.client.get_metric_history(run_id, key):
                rows.append((run_id, key, point.step, point.value))
    history = pd.DataFrame(rows, columns=["run_id", "key", "step", "value"])
    return history.drop_duplicates(["run_id", "key", "step"], keep="last")  # a resumed epoch may repeat


def history_keys(runs: pd.DataFrame, tasks: list[str], primary: list[TaskMetric]) -> list[str]:
    """The per-epoch metrics the plots need: weights, val primary metrics, train losses, gradient diagnostics."""
    keys = [f"weight/{t}" for t in tasks] + [m.key("val") for m in primary]
    keys += [f"train/{t}/{loss}" for t in tasks for loss in ("loss", "initial_loss")]
    keys += [f"grad/norm/{t}" for t in tasks]
    keys += [f"grad/cosine/{a}-{b}" for i, a in enumerate(tasks) for b in tasks[i + 1 :]]
    keys += [f"grad/cosine/{b}-{a}" for i, a in enumerate(tasks) for b in tasks[i + 1 :]]
    return [k for k in keys if k in runs.columns]


def best_epoch_values(tracker: Tracker, points: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``points`` with each listed ``val/<task>/<metric>`` replaced by its value at the run's best-val
    epoch for that task (`benchmark.tracking.best_epoch_for`)."""
    history = histories(tracker, points["run_id"].tolist(), keys)
    updated = points.copy()
    rows = points.to_dict("records")
    for key in keys:
        wanted = {row["run_id"]: best_epoch_for(row, key) for row in rows}
        chosen = history[(history["key"] == key) & (history["step"] == history["run_id"].map(wanted))]
        updated[key] = updated["run_id"].map(chosen.set_index("run_id")["value"])
    return updated
