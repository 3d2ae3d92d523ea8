"""A queue of units of work (a suite's runs, a search's one-off set-up) that exactly one process takes each.

The queue is an Optuna study in the shared storage (`benchmark.queue.storages`): a unit is an enqueued
trial whose user attributes name it (``key``, the run key) and what it belongs to; taking one is
Optuna's own transactional pop (WAITING → RUNNING: ``SELECT … FOR UPDATE`` on PostgreSQL, an
append-only log under a file lock with the journal).  A unit ends COMPLETE (done) or FAIL (failed,
interrupted or abandoned).

- **Adding is idempotent**: a key already waiting or held is not added again, by any process: adding
  (and putting back) happens under the storage's lock (`benchmark.queue.storages.exclusive`).
- **A dead holder's unit goes back**, as a new waiting unit with ``retries`` + 1 (at most `MAX_RETRIES`):
  on an RDB storage when its Optuna heartbeat is older than the grace period, from any machine; on any
  storage when its holder on this host has exited; and a unit taken but never claimed (its holder died
  between the pop and recording itself) after `UNCLAIMED_AFTER` seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import FrozenTrial, TrialState, create_trial

from benchmark.api.errors import MimoBenchError
from benchmark.queue.storages import GRACE_SECONDS, HEARTBEAT_SECONDS, exclusive, open_storage
from benchmark.tracking.claims import owner_id, process_gone

MAX_RETRIES = 3
UNCLAIMED_AFTER = 120.0
OPEN = (TrialState.WAITING, TrialState.RUNNING)

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Unit:
    """One taken unit of work: its trial's id and number, and its attributes (``key`` and the rest)."""

    trial_id: int
    number: int
    attrs: dict[str, Any]

    @property
    def key(self) -> str:
        return self.attrs["key"]


class WorkQueue:
    """The queue named ``name`` in the Optuna storage at ``url``; ``grace``: seconds without a heartbeat after
    which a unit's holder counts as gone (RDB storages)."""

    def __init__(self, url: str, name: str, grace: int = GRACE_SECONDS):
        if not url.startswith(("journal:", "postgresql")):
            raise MimoBenchError(
                f"--storage {url!r}: a work queue needs a storage that hands out work to exactly one process; "
                "use journal:PATH on one machine or postgresql://... across machines"
            )
        self.url, self.name, self.grace = url, name, grace
        self.storage = open_storage(url, self._put_back, grace)
        self.study = optuna.create_study(study_name=name, storage=self.storage, load_if_exists=True)
        self.study_id = self.storage.get_study_id_from_name(name)
        self.owner = owner_id()
        self._beats_checked = -float("inf")  # when `reap` last ran Optuna's heartbeat check
        self.put_back = 0  # units this process has put back in the queue

    def units(self, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        return self.storage.get_all_trials(self.study_id, deepcopy=False, states=tuple(states) if states else None)

    def add(self, items: Iterable[dict[str, Any]], wanted: Callable[[str], bool] | None = None) -> int:
        """Enqueue each item (a dict with ``key``) whose key is not waiting or held yet, and is still ``wanted``
        (asked under the lock, so that a unit that ended just before cannot be added again); returns how many."""
        items = list(items)
        added = 0
        with self._exclusive():
            open_keys = self.open_keys()
            for item in items:
                if item["key"] not in open_keys and (wanted is None or wanted(item["key"])):
                    self.study.enqueue_trial({}, user_attrs={"retries": 0, **item})
                    open_keys.add(item["key"])
                    added += 1
        return added

    def take(self, keys: set[str] | None = None) -> Unit | None:
        """Pop the oldest waiting unit (of ``keys``, if given) and claim it for this process; None if none waits."""
        open_units = self.units(OPEN)
        put_back = self.put_back
        self.reap(open_units)
        if self.put_back > put_back:  # the units it put back are new trials: read again
            open_units = self.units(OPEN)
        for trial in [t for t in open_units if t.state == TrialState.WAITING]:
            if keys is not None and trial.user_attrs.get("key") not in keys:
                continue
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                if not self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    continue  # another process took it first
                self.storage.set_trial_user_attr(trial_id, "owner", self.owner)
                self.beat(trial_id)
                return Unit(trial_id, trial.number, dict(trial.user_attrs))
        return None

    def done(self, unit: Unit, ok: bool, reason: str = "") -> None:
        """End a held unit: COMPLETE, or FAIL with ``reason`` (not retried: the next invocation adds it again)."""
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # reaped meanwhile
            if reason:
                self.storage.set_trial_user_attr(unit.trial_id, "reason", reason[:2000])
            state, values = (TrialState.COMPLETE, [0.0]) if ok else (TrialState.FAIL, None)
            self.storage.set_trial_state_values(unit.trial_id, state, values)

    def open_keys(self) -> set[str]:
        """The keys of the units waiting or held now."""
        return {t.user_attrs.get("key") for t in self.units(OPEN)}

    def beat(self, trial_id: int) -> None:
        """Record a heartbeat of a held unit (RDB storages; the journal has none)."""
        if hasattr(self.storage, "record_heartbeat") and self.storage.get_heartbeat_interval():
            self.storage.record_heartbeat(trial_id)

    @contextlib.contextmanager
    def beating(self, held: Callable[[], Iterable[Unit]] | Unit) -> Iterator[None]:
        """Keep the heartbeats of ``held`` (one unit, or a function giving the units held now) fresh while inside."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                for unit in [held] if isinstance(held, Unit) else held():
                    with contextlib.suppress(Exception):  # a missed beat only risks the grace period
                        self.beat(unit.trial_id)

        thread = threading.Thread(target=run, name="queue-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def reap(self, open_units: list[FrozenTrial] | None = None) -> None:
        """Put back every unit whose holder is gone (see the module docstring), of ``open_units`` if given (a
        fresh read if not); Optuna's heartbeat check runs at most every `HEARTBEAT_SECONDS` (or grace period)."""
        if time.monotonic() - self._beats_checked >= min(HEARTBEAT_SECONDS, self.grace):
            self._beats_checked = time.monotonic()
            with warnings.catch_warnings():  # "experimental" in Optuna 5, and there since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                fail_stale_trials(self.study)  # RDB storages: calls `_put_back` for each; the journal has no heartbeats
        now = datetime.now()
        for trial in self.units((TrialState.RUNNING,)) if open_units is None else open_units:
            if trial.state != TrialState.RUNNING:
                continue
            owner = trial.user_attrs.get("owner")
            unclaimed = owner is None and (now - trial.datetime_start).total_seconds() > UNCLAIMED_AFTER
            if unclaimed or (owner is not None and process_gone(owner)):
                trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                    if self.storage.set_trial_state_values(trial_id, TrialState.FAIL):
                        self._put_back(self.study, trial)

    def _put_back(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Enqueue a failed holder's unit again, unless it has been retried `MAX_RETRIES` times or its key has been
        added again meanwhile."""
        attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("owner", "reason")}
        if attrs.get("retries", 0) >= MAX_RETRIES or attrs.get("key") is None:
            return
        attrs["retries"] = attrs.get("retries", 0) + 1
        with self._exclusive():
            if attrs["key"] not in self.open_keys():
                study.add_trial(create_trial(state=TrialState.WAITING, user_attrs=attrs))
                self.put_back += 1

    def _exclusive(self) -> contextlib.AbstractContextManager[None]:
        """This queue's lock, across every process and machine on its storage."""
        return exclusive(self.url, self.storage, f"queue-{self.name}")
