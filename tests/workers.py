"""Helpers of the tests that run `mimo-bench worker` processes on one suite's work queue."""

from __future__ import annotations

import os
import subprocess
import time

from mlflow import MlflowClient

from tests.helpers import COMMAND, default_sigint, nested_runs

STRATEGIES = [{"name": "sum"}, {"name": "normalized"}, {"name": "uncertainty"}, {"name": "dwa"}]


def start_worker(suite, storage: str, uri: str, cache) -> subprocess.Popen:
    """A `mimo-bench worker`, given the queue's storage in its environment as another machine would be."""
    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache), "MIMO_BENCH_STORAGE": storage}
    command = [COMMAND, "worker", str(suite), "--tracking-uri", uri, "--no-progress"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    return subprocess.Popen(command, env=env, preexec_fn=default_sigint, **pipes)


def finished_runs(uri: str, name: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    return (
        [r for r in nested_runs(client, experiment.experiment_id) if r.info.status == "FINISHED"] if experiment else []
    )


def wait_until(condition, processes: list[subprocess.Popen], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        assert any(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.3)
