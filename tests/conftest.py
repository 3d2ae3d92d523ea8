"""Shared fixtures: a real MLflow SQLite store per test (migrated once per session, then copied)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch) -> Path:
    """Generated datasets go to one session-wide temporary cache, never the home directory."""
    path = tmp_path_factory.getbasetemp() / "dataset-cache"
    path.mkdir(exist_ok=True)
    monkeypatch.setenv("MIMO_BENCH_CACHE", str(path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return path


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_uri(_migrated_store, tmp_path) -> str:
    """A fresh, already-migrated SQLite tracking store in this test's temp dir."""
    store = tmp_path / "mlruns" / "mlflow.db"
    store.parent.mkdir()
    shutil.copy(_migrated_store, store)
    return f"sqlite:///{store}"
