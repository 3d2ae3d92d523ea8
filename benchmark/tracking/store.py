"""MLflow tracking: the one module that talks to the store.

Experiment = suite name; one parent run per invocation; one nested run per (strategy, seed).
Metrics are written with one `log_batch` per epoch (step = epoch), never one call per value.
Every call is retried with backoff for a bounded time (``$MIMO_BENCH_TRACKING_RETRY_SECONDS``,
default 120 s) so a store that drops for a moment loses nothing, and a retry never duplicates:
`RetryingClient.create_run` finds the run an unanswered attempt made, and a re-sent `log_batch`
is idempotent (MLflow's SQL store keeps one row per identical metric point; params and tags are
set, not appended).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # our retry loop owns the waiting (and de-duplication)
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # ours owns the terminal

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, Run, RunTag, ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

import benchmark  # noqa: E402
from benchmark.api.errors import MimoBenchError, one_line  # noqa: E402
from benchmark.tracking.untrusted import filter_literal, path_component, redact  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.ERROR)  # its retry and migration chatter would break our one-line errors

MAX_PARAM_LENGTH = 6000
CREATE_TOKEN_TAG = "mimo_bench.create_token"  # made by the client, so a retried create_run finds its run
CHECKPOINT_ARTIFACT = "resume/state.pt"
# the MLflow UI opens an experiment in its model-training mode (runs table, charts), not its GenAI mode
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
# error codes that no retry can fix: a wrong request, not a store that is away
PERMANENT_ERRORS = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_DOES_NOT_EXIST",
    "BAD_REQUEST",
    "PERMISSION_DENIED",
    "INVALID_STATE",
    "ENDPOINT_NOT_FOUND",
}


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


CHECKOUT = Path(__file__).resolve().parent.parent  # the folder holding the benchmark package


def _git(root: Path, *arguments: str) -> str:
    done = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, timeout=5)
    return done.stdout.strip() if done.returncode == 0 else ""


def _without_credentials(url: str) -> str:
    """A remote URL without any user name or password in it."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def source_version(root: Path) -> dict[str, str]:
    """Which code ran: ``root``'s path, and where ``root`` is the top of a git checkout, its commit, whether
    its working tree differs from that commit (tracked or untracked files), and its origin remote (without
    credentials).  'unknown' outside a checkout of ``root``: an enclosing repository's commit is not this code's."""
    version = {"code_path": str(root.resolve()), "mlflow.source.git.commit": "unknown", "code_dirty": "unknown"}
    try:
        if Path(_git(root, "rev-parse", "--show-toplevel") or "/nonexistent").resolve() != root.resolve():
            return version
        version["mlflow.source.git.commit"] = _git(root, "rev-parse", "HEAD") or "unknown"
        version["code_dirty"] = "true" if _git(root, "status", "--porcelain") else "false"
        remote = _git(root, "remote", "get-url", "origin")
        version["mlflow.source.git.repoURL"] = _without_credentials(remote) if remote else str(root.resolve())
    except (OSError, subprocess.SubprocessError):
        pass
    return version


@functools.cache
def checkout_version() -> dict[str, str]:
    """`source_version` of this checkout, read once per process (when it imported the code it runs)."""
    return source_version(CHECKOUT)


def versions() -> dict[str, str]:
    """What a run needs recorded to be reproduced: package and library versions, CPU threads and the code
    version (`checkout_version`)."""
    import optuna
    import torch

    return {
        "mimo_bench_version": benchmark.__version__,
        "torch_version": torch.__version__,
        "mlflow_version": mlflow.__version__,
        "optuna_version": optuna.__version__,
        "python_version": sys.version.split()[0],
        "torch_threads": str(torch.get_num_threads()),  # CPU results differ in the last bits across thread counts
        **checkout_version(),
    }


def best_epoch_for(metrics: Mapping[str, float], key: str) -> int:
    """The epoch at which a run's ``val/<task>/<metric>`` ``key`` counts: the task's own
    ``best_epoch/<task>`` where separate nets chose their own (``single``), else the run's ``best_epoch``."""
    own = metrics.get(f"best_epoch/{key.split('/')[1]}")
    return int(metrics["best_epoch"] if own is None or math.isnan(own) else own)


def tag_filter(**tags: str) -> str:
    """An MLflow filter string matching runs whose tags equal ``tags`` exactly, every value quoted
    (`benchmark.untrusted.filter_literal`); a dotted key is passed as ``**{"mlflow.parentRunId": id}``."""
    return " and ".join(f"tags.`{key}` = {filter_literal(str(value))}" for key, value in tags.items())


def artifact_root(uri: str) -> str | None:
    """For a SQLite store, keep artifacts beside the database (``mlruns/artifacts``); else the store's default."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts").as_uri()
    return None


def checkpoint_seconds() -> float:
    """Least seconds between two resume checkpoints of a run (``$MIMO_BENCH_CHECKPOINT_SECONDS``, default 30)."""
    return float(os.environ.get("MIMO_BENCH_CHECKPOINT_SECONDS", "30"))


def retry_budget() -> float:
    return float(os.environ.get("MIMO_BENCH_TRACKING_RETRY_SECONDS", "120"))


def _permanent(error: Exception) -> bool:
    return isinstance(error, MlflowException) and error.error_code in PERMANENT_ERRORS


def _probe_database(uri: str) -> None:
    """Connect once to a database store with a short timeout (MLflow itself retries for ~100 s first)."""
    if uri.split(":", 1)[0].split("+", 1)[0] not in ("postgresql", "mysql"):
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


class RetryingClient:
    """An `MlflowClient` whose every call is retried with exponential backoff for ``budget`` seconds."""

    def __init__(self, client: MlflowClient, budget: float):
        self._client = client
        self._budget = budget

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method
        return functools.wraps(method)(lambda *args, **kwargs: self._retried(name, lambda: method(*args, **kwargs)))

    def create_run(self, experiment_id: str, tags: Mapping[str, str] | None = None, **options: Any) -> Run:
        """`MlflowClient.create_run`; a retry first looks for the run that an unanswered attempt created."""
        token = uuid.uuid4().hex
        tags = {**(tags or {}), CREATE_TOKEN_TAG: token}

        def created() -> Run | None:
            query = tag_filter(**{CREATE_TOKEN_TAG: token})
            found = self._client.search_runs([experiment_id], query, run_view_type=ViewType.ALL)
            return found[0] if found else None

        return self._retried(
            "create_run", lambda: self._client.create_run(experiment_id, tags=tags, **options), done=created
        )

    def _retried(self, name: str, attempt: Callable[[], Any], done: Callable[[], Any] | None = None) -> Any:
        """``attempt()`` until it succeeds, for at most the budget; before each retry, ``done()`` may return
        the result of an attempt whose answer was lost."""
        deadline, delay = time.monotonic() + self._budget, 0.25
        while True:
            try:
                return attempt()
            except Exception as error:
                if _permanent(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise MimoBenchError(
                        f"tracking store unreachable for {self._budget:.0f} s ({name}): {one_line(error)}"
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            if done is not None:
                with contextlib.suppress(Exception):  # still unreachable: the next attempt says so
                    if (result := done()) is not None:
                        return result


class Tracker:
    """A connection to one tracking store (SQLite file, PostgreSQL, or an `mlflow server`)."""

    def __init__(self, uri: str):
        self.uri = uri
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            _probe_database(uri)
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


class RunLog:
    """Writes to one run; every param, tag, text and description is `redact`-ed on its way to the store."""

    def __init__(self, client: RetryingClient, run_id: str):
        self.client = client
        self.run_id = run_id
        self._checkpointed: float | None = None  # monotonic time of the last resume checkpoint

    def params(self, params: Mapping[str, Any]) -> None:
        items = [
            Param(k, redact(json.dumps(v)) if isinstance(v, list) else redact(str(v))[:MAX_PARAM_LENGTH])
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
        self.client.log_batch(self.run_id, tags=[RunTag(k, redact(str(v))) for k, v in tags.items()])

    def describe(self, markdown: str) -> None:
        """Set the run's description (shown on its page in the MLflow UI)."""
        self.client.set_tag(self.run_id, "mlflow.note.content", redact(markdown))

    def text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, redact(text), artifact_file)

    def file(self, write: Callable[[Path], None], artifact_file: str) -> None:
        """Log an artifact produced by ``write(path)``; ``artifact_file`` may hold a folder ('resume/state.pt')."""
        folder, _, name = artifact_file.rpartition("/")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / name
            write(path)
            self.client.log_artifact(self.run_id, str(path), folder or None)

    def end_epoch(self, metrics: Mapping[str, float], epoch: int, state: Callable[[], dict]) -> None:
        """An epoch's metrics, and the resume state when one is due: after the first epoch, then once
        `checkpoint_seconds` have passed since the last (a kill loses at most that much training)."""
        self.metrics(metrics, epoch)
        now = time.monotonic()
        if self._checkpointed is None or now - self._checkpointed >= checkpoint_seconds():
            self.save_checkpoint(state(), epoch)
            self._checkpointed = now

    def save_checkpoint(self, state: dict, epoch: int) -> None:
        """Store the resume state of a run after ``epoch`` (replacing the previous one)."""
        import torch

        self.file(lambda path: torch.save(state, path), CHECKPOINT_ARTIFACT)
        self.tags({"checkpoint_epoch": epoch})

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


class Heartbeat:
    """Refreshes a run's ``heartbeat`` tag from a background thread while the run trains."""

    def __init__(self, log: RunLog, every: float):
        self.log, self.every = log, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{log.run_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.log.tags({"heartbeat": f"{time.time():.0f}"})
            except Exception:  # a missed beat only risks a later staleness check; training goes on
                continue
