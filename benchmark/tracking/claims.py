"""What to do with a run key this process holds: skip a finished run, resume an interrupted one, or start one.

Which process holds a key is decided by the work queue (`benchmark.queue.work`), never here.  A run is
marked RUNNING with an ``owner`` (host:pid) and keeps its ``heartbeat`` tag fresh, so that a dry run can
tell a live run from a stale one: a RUNNING run is *stale* when its owner process on this host is gone
or its heartbeat is older than `STALE_AFTER`.  The process holding a key treats every RUNNING run of it
as interrupted (its holder is gone, or the queue would not have handed the key out).  A suite's parent
run carries the same tags; the next invocation marks a stale one KILLED (`retire_stale_parents`).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mlflow.entities import Run

from benchmark.tracking.runlog import RunLog
from benchmark.tracking.store import Tracker

HEARTBEAT_EVERY = 20.0  # seconds between heartbeats
STALE_AFTER = 120.0  # a heartbeat older than this means the owner is gone


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


@dataclass
class Decision:
    """What the runs already tracked under one key call for, before anything is written."""

    action: str  # 'skip', 'busy', 'resume' or 'start'
    run: Run | None = None  # the finished, live or resumable run the action refers to
    interrupted: list[Run] = field(default_factory=list)  # KILLED or stale runs
    resumable: list[Run] = field(default_factory=list)  # those of them with an epoch checkpoint


def decide(runs: list[Run], force: bool, held: bool = False) -> Decision:
    """Skip a finished run, leave a live one alone, resume the latest checkpointed interrupted one, or start;
    ``held``: this process holds the key, so no other process is training it (every RUNNING run is interrupted)."""
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if finished and not force:
        return Decision("skip", finished[-1])
    live = [r for r in runs if r.info.status == "RUNNING" and not held and not is_stale(r)]
    if live:
        return Decision("busy", live[0])
    interrupted = [
        r for r in runs if r.info.status == "KILLED" or (r.info.status == "RUNNING" and (held or is_stale(r)))
    ]
    resumable = [r for r in interrupted if int(r.data.tags.get("checkpoint_epoch", "0")) > 0]
    if resumable and not force:
        return Decision("resume", resumable[-1], interrupted, resumable)
    return Decision("start", None, interrupted, resumable)


def claim(
    tracker: Tracker, experiment_id: str, run_key: str, force: bool, start: Callable[[dict[str, str]], RunLog]
) -> Claim:
    """For a ``run_key`` this process holds in the work queue: skip it, or take its run over ('resume') or start one."""
    decision = decide(tracker.runs_with_key(experiment_id, run_key), force, held=True)
    run = decision.run
    if decision.action == "skip":
        return Claim("skip", run.info.run_id)
    for other in decision.interrupted:
        if other is not run:
            _retire(tracker, other, checkpointed=other in decision.resumable)
    if decision.action == "resume":
        log = tracker.reopen(run.info.run_id)
        log.tags({**ownership(), "resumed_from_epoch": run.data.tags["checkpoint_epoch"]})
        return Claim("resume", log.run_id, log, note=f"from epoch {run.data.tags['checkpoint_epoch']}")
    log = start(ownership())
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
