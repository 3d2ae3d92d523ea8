"""Who runs what: per run key, skip a finished run, resume an interrupted one, or start a new one.

A run is *claimed* by the process that marks it RUNNING with an ``owner`` (host:pid) and keeps its
``heartbeat`` tag fresh.  A RUNNING run is *stale* when its owner process on this host is gone or its
heartbeat is older than `STALE_AFTER`.  On a SQLite store the decision is taken under a file lock, so
two invocations on one machine never claim the same run; on other stores a new claim waits
`SETTLE_SECONDS` and yields to an earlier claim of the same key, and a resume waits as long and
yields when another process's ``owner`` tag replaced its own.  A suite's parent run carries the same
tags; the next invocation marks a stale one KILLED (`retire_stale_parents`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mlflow.entities import Run

from benchmark.tracking.runlog import RunLog
from benchmark.tracking.store import Tracker

HEARTBEAT_EVERY = 20.0  # seconds between heartbeats
STALE_AFTER = 120.0  # a heartbeat older than this means the owner is gone
SETTLE_SECONDS = 1.0


@dataclass
class Claim:
    """The decision for one run key.  ``action``: 'skip', 'busy', 'resume' or 'start'."""

    action: str
    run_id: str = ""
    log: RunLog | None = None
    note: str = ""


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_gone(owner: str) -> bool | None:
    """True if the process of an ``owner`` (host:pid) has exited, False if it is this one, else None
    (alive, or on another host: its heartbeat tells)."""
    host, _, pid = owner.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, owned by another user
    return None  # alive now, yet the pid may have been reused: the heartbeat decides


def ownership() -> dict[str, str]:
    """The tags that claim a run for this process."""
    return {"owner": owner_id(), "heartbeat": f"{time.time():.0f}"}


def is_stale(run: Run, now: float | None = None) -> bool:
    """True for a RUNNING run whose owner is gone."""
    if run.info.status != "RUNNING":
        return False
    gone = process_gone(run.data.tags.get("owner", ":"))
    if gone is not None:
        return gone
    beat = float(run.data.tags.get("heartbeat", run.info.start_time / 1000))
    return (now or time.time()) - beat > STALE_AFTER


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[bool]:
    """An exclusive lock beside a SQLite store (yields True), or nothing for other stores (False)."""
    if not uri.startswith("sqlite:///"):
        yield False
        return
    path = uri.removeprefix("sqlite:///") + ".claims.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Decision:
    """What the runs already tracked under one key call for, before anything is written."""

    action: str  # 'skip', 'busy', 'resume' or 'start'
    run: Run | None = None  # the finished, live or resumable run the action refers to
    interrupted: list[Run] = field(default_factory=list)  # KILLED or stale runs
    resumable: list[Run] = field(default_factory=list)  # those of them with an epoch checkpoint


def decide(runs: list[Run], force: bool) -> Decision:
    """Skip a finished run, leave a live one alone, resume the latest checkpointed interrupted one, or start."""
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if finished and not force:
        return Decision("skip", finished[-1])
    live = [r for r in runs if r.info.status == "RUNNING" and not is_stale(r)]
    if live:
        return Decision("busy", live[0])
    interrupted = [r for r in runs if r.info.status == "KILLED" or is_stale(r)]
    resumable = [r for r in interrupted if int(r.data.tags.get("checkpoint_epoch", "0")) > 0]
    if resumable and not force:
        return Decision("resume", resumable[-1], interrupted, resumable)
    return Decision("start", None, interrupted, resumable)


def claim(
    tracker: Tracker, experiment_id: str, run_key: str, force: bool, start: Callable[[dict[str, str]], RunLog]
) -> Claim:
    """Decide what to do with ``run_key`` and, for 'resume' or 'start', take the run over."""
    tags = ownership()
    with store_lock(tracker.uri) as locked:
        decision = decide(tracker.runs_with_key(experiment_id, run_key), force)
        run = decision.run
        if decision.action == "skip":
            return Claim("skip", run.info.run_id)
        if decision.action == "busy":
            return Claim("busy", run.info.run_id, note=f"running in {run.data.tags.get('owner', '?')}")
        for other in decision.interrupted:
            if other is not run:
                _retire(tracker, other, checkpointed=other in decision.resumable)
        if decision.action == "resume":
            log = tracker.reopen(run.info.run_id)
            log.tags({**tags, "resumed_from_epoch": run.data.tags["checkpoint_epoch"]})
        else:
            log = start(tags)
    if decision.action == "resume":
        if not locked and _lost_resume(tracker, log.run_id, tags["owner"]):
            return Claim("busy", log.run_id, note="resumed by another process at the same moment")
        return Claim("resume", log.run_id, log, note=f"from epoch {run.data.tags['checkpoint_epoch']}")
    if not locked and _lost_race(tracker, experiment_id, run_key, log.run_id):
        tracker.client.delete_run(log.run_id)
        return Claim("busy", note="claimed by another process at the same moment")
    return Claim("start", log.run_id, log)


def retire_stale_parents(tracker: Tracker, experiment_id: str) -> None:
    """Mark KILLED every suite parent run left RUNNING by a process that is gone (kill -9, a lost machine)."""
    for run in tracker.client.search_runs([experiment_id], "tags.kind = 'suite' and attributes.status = 'RUNNING'"):
        if is_stale(run):
            log = RunLog(tracker.client, run.info.run_id)
            log.tags({"failure_reason": f"its process ({run.data.tags.get('owner', 'unknown')}) is gone"})
            log.finish("KILLED")


def _retire(tracker: Tracker, run: Run, checkpointed: bool) -> None:
    """Mark an interrupted run that will not be resumed as FAILED, with the reason."""
    if not checkpointed:
        reason = "interrupted before its first epoch checkpoint; restarted as a new run"
    else:
        reason = "interrupted; superseded by a newer attempt"
    log = RunLog(tracker.client, run.info.run_id)
    log.tags({"failure_reason": reason})
    log.finish("FAILED")


def _lost_race(tracker: Tracker, experiment_id: str, run_key: str, own_run_id: str) -> bool:
    """After a short wait: did another process claim the same key earlier (or at the same ms, lower id)?"""
    time.sleep(SETTLE_SECONDS)
    rivals = [
        r
        for r in tracker.runs_with_key(experiment_id, run_key)
        if r.info.status == "RUNNING" and r.info.run_id != own_run_id
    ]
    own = tracker.client.get_run(own_run_id).info
    return any((r.info.start_time, r.info.run_id) < (own.start_time, own.run_id) for r in rivals)


def _lost_resume(tracker: Tracker, run_id: str, owner: str) -> bool:
    """After a short wait: did another process reopen the same run since (its owner tag replaced ours)?"""
    time.sleep(SETTLE_SECONDS)
    return tracker.client.get_run(run_id).data.tags.get("owner") != owner
