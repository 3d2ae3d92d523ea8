"""The tracking store: experiments, runs found by key, new runs with their tags and params, and resumes.

Experiment = suite name; one parent run per invocation; one nested run per (strategy, seed).
Every call goes through `benchmark.tracking.client.RetryingClient`; writes to one run go through
`benchmark.tracking.runlog.RunLog`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.api.errors import MimoBenchError, one_line
from benchmark.tracking.client import (
    MlflowClient,
    MlflowException,
    RetryingClient,
    Run,
    ViewType,
    probe_database,
    retry_budget,
    runs_frame,
)
from benchmark.tracking.filters import tag_filter
from benchmark.tracking.runlog import CHECKPOINT_ARTIFACT, RunLog
from benchmark.tracking.untrusted import path_component, redact
from benchmark.tracking.versions import versions

# an experiment of model training, not of a GenAI app: what MLflow 3's UI reads where its mode toggle is off;
# MLflow 3.17's UI takes the mode from the ``workflowType`` URL parameter instead (`benchmark.tracking.links`)
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


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
            probe_database(uri)
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
        except Exception as error:  # any failure here means the store is unusable: say so before training
            raise MimoBenchError(f"tracking store {uri!r} is not reachable: {one_line(error)}") from None
        self.client = RetryingClient(client, retry_budget())

    def experiment(self, name: str) -> str:
        """The id of the experiment ``name``, created on first use (its artifacts, for a SQLite store, in
        one folder of ``artifacts/`` named by `path_component`, whatever the name holds)."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            root = artifact_root(self.uri)
            location = f"{root}/{path_component(name)}" if root else None
            with contextlib.suppress(MlflowException):  # another process may have created it first
                self.client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
            found = self.client.get_experiment_by_name(name)
        if any(found.tags.get(k) != v for k, v in EXPERIMENT_TAGS.items()):
            for key, value in EXPERIMENT_TAGS.items():
                self.client.set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id

    def start_run(
        self,
        experiment_id: str,
        name: str,
        tags: Mapping[str, Any],
        params: Mapping[str, Any],
        parent_run_id: str | None = None,
    ) -> RunLog:
        """Create a run (nested under ``parent_run_id`` if given) with its tags and params."""
        all_tags = {**versions(), **{k: redact(str(v)) for k, v in tags.items()}}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(experiment_id, tags=all_tags, run_name=name)
        log = RunLog(self.client, run.info.run_id)
        log.params(params)
        return log

    def runs_with_key(self, experiment_id: str, run_key: str) -> list[Run]:
        """Every (not deleted) run of the experiment tagged with ``run_key``, oldest first."""
        return list(
            self.client.search_runs(
                [experiment_id],
                tag_filter(run_key=run_key),
                run_view_type=ViewType.ACTIVE_ONLY,
                order_by=["attributes.start_time ASC"],
            )
        )

    def runs_frame(self, experiment_id: str, filter_string: str) -> Any:
        """The experiment's runs matching ``filter_string`` as one pandas frame (`mlflow.search_runs`)."""
        return runs_frame(self.uri, experiment_id, filter_string)

    def reopen(self, run_id: str) -> RunLog:
        """Continue writing to an existing run (marked RUNNING again)."""
        self.client.update_run(run_id, status="RUNNING")
        return RunLog(self.client, run_id)

    def load_checkpoint(self, run_id: str) -> dict:
        """The resume state that `RunLog.save_checkpoint` stored on ``run_id``, loaded onto the CPU whatever
        device saved it (`Trainer.load_state_dict` copies it onto the run's device; RNG states stay on the CPU)."""
        import torch

        with tempfile.TemporaryDirectory() as directory:
            path = self.client.download_artifacts(run_id, CHECKPOINT_ARTIFACT, directory)
            return torch.load(path, weights_only=True, map_location="cpu")
