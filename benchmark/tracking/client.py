"""The MLflow client, every call retried with backoff for a bounded time so a store that drops for a moment loses nothing.

The budget is ``$MIMO_BENCH_TRACKING_RETRY_SECONDS`` (default 120 s), and a retry never duplicates:
`RetryingClient.create_run` finds the run an unanswered attempt made, and a re-sent `log_batch`
is idempotent (MLflow's SQL store keeps one row per identical metric point; params and tags are
set, not appended).  Importing this module sets MLflow's environment before MLflow is imported.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # our retry loop owns the waiting (and de-duplication)
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # ours owns the terminal


import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, Run, RunTag, ViewType  # noqa: E402, F401  (Metric, Param, RunTag: for runlog)
from mlflow.exceptions import MlflowException  # noqa: E402

from benchmark.api.errors import MimoBenchError, one_line  # noqa: E402
from benchmark.tracking.filters import tag_filter  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.ERROR)  # its retry and migration chatter would break our one-line errors

CREATE_TOKEN_TAG = "mimo_bench.create_token"  # made by the client, so a retried create_run finds its run
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


def retry_budget() -> float:
    return float(os.environ.get("MIMO_BENCH_TRACKING_RETRY_SECONDS", "120"))


def _permanent(error: Exception) -> bool:
    return isinstance(error, MlflowException) and error.error_code in PERMANENT_ERRORS


def probe_database(uri: str) -> None:
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


def runs_frame(uri: str, experiment_id: str, filter_string: str) -> Any:
    """The experiment's runs matching ``filter_string`` as one pandas frame (`mlflow.search_runs`)."""
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs([experiment_id], filter_string, output_format="pandas")
