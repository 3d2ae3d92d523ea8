"""Optuna storages chosen by URL: a journal file (the default, beside the local MLflow store) or an RDB.

An RDB storage records Optuna's trial heartbeats (every `HEARTBEAT_SECONDS`): a trial whose process
stops beating for `GRACE_SECONDS` is failed by the next process that looks, and handed to
``stale_callback`` (the work queue puts its unit back).  The journal storage has no heartbeats; on
one machine the queue tells a dead process by its pid instead.  `exclusive` is a lock that every process
on the storage (and, on PostgreSQL, every machine) sees: the queue adds units under it."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from benchmark.api.errors import MimoBenchError, one_line


def default_storage(tracking_uri: str) -> str:
    """A journal file beside the local SQLite store (``mlruns/optuna.journal``), or under ./mlruns."""
    folder = (
        Path(tracking_uri.removeprefix("sqlite:///")).parent
        if tracking_uri.startswith("sqlite:///")
        else Path("mlruns")
    )
    return f"journal:{folder / 'optuna.journal'}"


STORAGE_ENV = "MIMO_BENCH_STORAGE"  # the default --storage of run and worker (keeps a password out of `ps`)
TRACKING_ENV = "MIMO_BENCH_TRACKING_URI"  # a worker's default --tracking-uri
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


def open_storage(
    url: str, stale_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None, grace: int = GRACE_SECONDS
) -> Any:
    """An Optuna storage from a URL: ``journal:PATH`` (a journal file) or an RDB URL (sqlite, postgresql, mysql),
    the latter with heartbeats where ``stale_callback`` takes the trials whose process stopped beating."""
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql"):
        return _rdb_storage(url, stale_callback, grace)
    raise MimoBenchError(f"--storage {url!r}: use journal:PATH, sqlite:///PATH, postgresql://... or mysql://...")


def _rdb_storage(url: str, stale_callback, grace: int, attempts: int = 5) -> optuna.storages.RDBStorage:
    """An RDB storage; workers starting together race to create its schema, so a loser tries again."""
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5, and stable since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                beats = {"heartbeat_interval": HEARTBEAT_SECONDS, "grace_period": grace} if stale_callback else {}
                return optuna.storages.RDBStorage(url, heartbeat_stale_trial_callback=stale_callback, **beats)
        except Exception as error:  # sqlalchemy's IntegrityError/ProgrammingError from the schema race
            failure = error
            time.sleep(1.0 + attempt)
    raise MimoBenchError(f"--storage {url!r}: cannot open the Optuna storage: {one_line(failure)}") from failure


@contextlib.contextmanager
def exclusive(url: str, storage: Any, name: str) -> Iterator[None]:
    """Hold the lock ``name`` of the storage at ``url`` (``journal:PATH`` or PostgreSQL, the work queue's two) while
    inside: one file lock beside a journal file, whatever the name; an advisory lock on PostgreSQL (held by
    one connection of ``storage``'s engine)."""
    if url.startswith("journal:"):
        with open(f"{url.removeprefix('journal:')}.queue.lock", "a") as file:
            fcntl.flock(file, fcntl.LOCK_EX)  # released when the file closes, or its process dies
            yield
        return
    from sqlalchemy import text

    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    with storage.engine.connect() as connection:  # a session lock: ended with the session if its process dies
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
