"""Optuna storages chosen by URL: a journal file (the default, beside the local MLflow store) or an RDB."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna

from benchmark.api.errors import MimoBenchError, one_line


def default_storage(tracking_uri: str) -> str:
    """A journal file beside the local SQLite store (``mlruns/optuna.journal``), or under ./mlruns."""
    folder = (
        Path(tracking_uri.removeprefix("sqlite:///")).parent
        if tracking_uri.startswith("sqlite:///")
        else Path("mlruns")
    )
    return f"journal:{folder / 'optuna.journal'}"


def open_storage(url: str) -> Any:
    """An Optuna storage from a URL: ``journal:PATH`` (a journal file) or an RDB URL (sqlite, postgresql, mysql)."""
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql"):
        return _rdb_storage(url)
    raise MimoBenchError(f"--storage {url!r}: use journal:PATH, sqlite:///PATH, postgresql://... or mysql://...")


def _rdb_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """An RDB storage; workers starting together race to create its schema, so a loser tries again."""
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as error:  # sqlalchemy's IntegrityError/ProgrammingError from the schema race
            failure = error
            time.sleep(1.0 + attempt)
    raise MimoBenchError(f"--storage {url!r}: cannot open the Optuna storage: {one_line(failure)}") from failure
