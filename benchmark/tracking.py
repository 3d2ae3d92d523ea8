"""MLflow tracking: the one module that talks to the store.

Experiment = suite name; one parent run per invocation; one nested run per (strategy, seed).
Metrics are written with one `log_batch` per epoch (step = epoch), never one call per value.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402

from benchmark.errors import MimoBenchError  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.WARNING)  # schema-migration chatter would break the progress bars

MAX_PARAM_LENGTH = 6000


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one flat dict with dotted keys (``strategy.weights.slant``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def git_commit() -> str:
    """The commit of the mimo-bench checkout, or 'unknown' outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def artifact_root(uri: str) -> str | None:
    """For a SQLite store, keep artifacts beside the database (``mlruns/artifacts``); else the store's default."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts").as_uri()
    return None


class Tracker:
    """A connection to one tracking store (SQLite file, PostgreSQL, or an `mlflow server`)."""

    def __init__(self, uri: str):
        self.uri = uri
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.client.search_experiments(max_results=1)
        except Exception as error:  # any failure here means the store is unusable: say so before training
            raise MimoBenchError(f"tracking store {uri!r} is not reachable: {type(error).__name__}: {error}") from None

    def experiment(self, name: str) -> str:
        """The id of the experiment ``name``, created on first use."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        root = artifact_root(self.uri)
        location = f"{root}/{name}" if root else None
        return self.client.create_experiment(name, artifact_location=location)

    def start_run(
        self,
        experiment_id: str,
        name: str,
        tags: Mapping[str, Any],
        params: Mapping[str, Any],
        parent_run_id: str | None = None,
    ) -> RunLog:
        """Create a run (nested under ``parent_run_id`` if given) with its tags and params."""
        all_tags = {"mlflow.source.git.commit": git_commit(), **{k: str(v) for k, v in tags.items()}}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(experiment_id, tags=all_tags, run_name=name)
        log = RunLog(self.client, run.info.run_id)
        log.params(params)
        return log


class RunLog:
    """Writes to one run."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client = client
        self.run_id = run_id

    def params(self, params: Mapping[str, Any]) -> None:
        items = [
            Param(k, json.dumps(v) if isinstance(v, list) else str(v)[:MAX_PARAM_LENGTH])
            for k, v in flatten(params).items()
        ]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def metrics(self, values: Mapping[str, float], step: int) -> None:
        """All values of one step in a single call."""
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in values.items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def tags(self, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def describe(self, markdown: str) -> None:
        """Set the run's description (shown on its page in the MLflow UI)."""
        self.client.set_tag(self.run_id, "mlflow.note.content", markdown)

    def text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def file(self, write: Any, file_name: str, artifact_path: str | None = None) -> None:
        """Log an artifact produced by ``write(path)`` into a temporary directory."""
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / file_name
            write(path)
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)
