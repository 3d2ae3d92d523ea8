"""Trials and trial runs that a search process left behind when it died (killed, or its machine lost).

A trial records its ``owner`` (host:pid) as soon as it is asked and its MLflow ``run_id`` once that
run exists; the run keeps its own owner and heartbeat (`benchmark.tracking.claims`).  A RUNNING trial is
left behind when its owner process on this host is gone; for an owner elsewhere, when its run is
stale, or when its run ended (or, with no run yet, it was asked) over `STALE_AFTER` ago and the
study was never told.  Such a trial is told what its run recorded (COMPLETE with the logged
objective, or PRUNED), else FAIL; its run, if still open, is marked FAILED first, so a process hit
in between leaves a state that the next settling finishes.  Trial runs left RUNNING by a dead process whose trial is already told are marked
FAILED too.

Optuna's own heartbeats do not cover this: the journal storage (the default) has none in Optuna 5,
the RDB storage's are recorded only inside ``study.optimize`` (the search asks and tells, to train
each trial as a tracked run), and a trial that never recorded a heartbeat is never failed.
"""

from __future__ import annotations

import json
import time

import optuna

from benchmark.tracking.claims import STALE_AFTER, is_stale, process_gone
from benchmark.tracking.client import Run
from benchmark.tracking.filters import tag_filter
from benchmark.tracking.runlog import RunLog

RUNNING = optuna.trial.TrialState.RUNNING
INTERRUPTED = "interrupted: its process died; the study goes on with a new trial"


def settle_left_behind(study: optuna.Study, client, experiment_id: str) -> None:
    """Tell the study how each left-behind trial ended and close the trial runs a dead process left open."""
    for trial in study.get_trials(deepcopy=False, states=(RUNNING,)):
        run = client.get_run(trial.user_attrs["run_id"]) if "run_id" in trial.user_attrs else None
        if _alive(trial, run):
            continue
        ended_as = run.data.tags.get("optuna_state") if run else None
        if ended_as == "COMPLETE" and run.info.status == "FINISHED" and "objective" in run.data.tags:
            study.tell(trial.number, json.loads(run.data.tags["objective"]), skip_if_finished=True)
        elif ended_as == "PRUNED" and run.info.status == "KILLED":
            study.tell(trial.number, state=optuna.trial.TrialState.PRUNED, skip_if_finished=True)
        else:
            if run is not None and run.info.status in ("RUNNING", "FINISHED"):
                retire(client, run.info.run_id)
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    query = f"{tag_filter(kind='trial', study=study.study_name)} and attributes.status = 'RUNNING'"
    for run in client.search_runs([experiment_id], query):
        if is_stale(run):
            retire(client, run.info.run_id)


def _alive(trial: optuna.trial.FrozenTrial, run: Run | None) -> bool:
    """Whether the process running a RUNNING trial may still tell it: its pid where it runs on this host,
    else its run's heartbeat, else (no run yet, or a run that just ended) the last `STALE_AFTER` seconds."""
    gone = process_gone(trial.user_attrs.get("owner", ":"))
    if gone is not None:
        return not gone
    if run is not None and run.info.status == "RUNNING":
        return not is_stale(run)
    since = run.info.end_time / 1000 if run is not None and run.info.end_time else trial.datetime_start.timestamp()
    return time.time() - since < STALE_AFTER


def retire(client, run_id: str) -> None:
    """Mark a trial run whose process died FAILED, with the reason."""
    log = RunLog(client, run_id)
    log.tags({"failure_reason": INTERRUPTED, "optuna_state": "FAIL"})
    log.finish("FAILED")
