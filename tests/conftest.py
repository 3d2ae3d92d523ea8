"""Shared fixtures: a real MLflow SQLite store per test (migrated once per session, then copied)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the fixture a plugin author opts into, as the README shows: `check_strategy`
pytest_plugins = ["benchmark.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch) -> Path:
    """Generated datasets go to one session-wide temporary cache, never the home directory (with pytest-xdist,
    one cache for all workers: entries are written to a temporary file and renamed into place)."""
    path = dataset_cache(tmp_path_factory)
    path.mkdir(exist_ok=True)
    monkeypatch.setenv("MIMO_BENCH_CACHE", str(path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # Child `mimo-bench` processes find the tests' plugins (`tests.search_plugins`) on the Python path, as
    # they would find a user's plugin; a plain checkout has no PYTHONPATH, so the root is added here.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return path


def dataset_cache(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "dataset-cache"


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


@pytest.fixture
def postgres_database():
    """A factory of fresh databases on the machine's PostgreSQL (127.0.0.1:5432, trust auth): each call
    creates one and returns its name; all are dropped afterwards. Skips where no PostgreSQL answers."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3", autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip(f"needs PostgreSQL on 127.0.0.1:5432 (user postgres, database test): {error}")
    created: list[str] = []

    def create(prefix: str) -> str:
        name = f"mimo_{prefix}_{uuid.uuid4().hex[:8]}"
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        created.append(name)
        return name

    yield create
    with admin.cursor() as cursor:
        for name in created:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()
