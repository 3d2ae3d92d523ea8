"""Helpers shared by the tests that drive the real `mimo-bench` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlflow import MlflowClient

from benchmark.run.records import logged_test_metrics
from benchmark.tracking.filters import tag_filter

COMMAND = str(Path(sys.executable).parent / "mimo-bench")


def default_sigint() -> None:
    """In a child before it runs (``preexec_fn``): SIGINT back to the default, so a test command started
    from a shell that ignores it (a background job) still gets a child that Ctrl-C stops."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_command(suite: Path, uri: str, *options: str) -> list[str]:
    return [COMMAND, "run", str(suite), "--tracking-uri", uri, "--no-progress", *options]


def run_cli(suite: Path, uri: str, cache: Path, *options: str) -> subprocess.CompletedProcess:
    """Run a suite through the installed command and wait for it."""
    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache)}
    return subprocess.run(cli_command(suite, uri, *options), capture_output=True, text=True, env=env, timeout=600)


def start_cli(suite: Path, uri: str, cache: Path, *options: str) -> subprocess.Popen:
    """Start a suite through the installed command without waiting."""
    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache)}
    return subprocess.Popen(
        cli_command(suite, uri, *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_sigint,
    )


def nested_runs(client: MlflowClient, experiment_id: str, parent_id: str | None = None):
    """The (strategy, seed) runs of an experiment, or of one parent run."""
    query = tag_filter(**{"mlflow.parentRunId": parent_id}) if parent_id else "tags.run_key != ''"
    return client.search_runs([experiment_id], query)


def metrics_by_run(runs) -> dict:
    """Each run's logged test metrics, keyed by (strategy, seed): what two ways of running a suite must agree on."""
    return {(r.data.tags["strategy"], r.data.tags["seed"]): logged_test_metrics(r) for r in runs}


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 180) -> None:
    """Poll ``condition`` until it holds; fail if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the suite ended first: {process.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the suite")
        time.sleep(0.1)
