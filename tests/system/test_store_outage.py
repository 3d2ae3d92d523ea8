"""A tracking server that drops during a suite: retried with backoff, nothing lost or half-counted."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow import MlflowClient

from tests.helpers import start_cli, wait_for
from tests.system.test_cli import free_port
from tests.system.test_reliability import runs_by_status, write_suite

pytestmark = pytest.mark.slow


def start_server(store, artifacts, port: int, backend: str | None = None) -> subprocess.Popen:
    """A real `mlflow server` with one worker on 127.0.0.1 (backed by a SQLite file, or ``backend``)."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend or f"sqlite:///{store}"]
    command += ["--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.3)


def stop(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # stopped already
        os.killpg(server.pid, signal.SIGKILL)  # an abrupt drop, not a polite shutdown
    server.wait(timeout=30)


def test_suite_survives_a_server_restart_and_gives_up_cleanly_when_it_stays_down(tmp_path, _migrated_store, cache_dir):
    store, artifacts, port = tmp_path / "server.db", tmp_path / "artifacts", free_port()
    store.write_bytes(_migrated_store.read_bytes())
    uri = f"http://127.0.0.1:{port}"
    server = start_server(store, artifacts, port)
    client = MlflowClient(uri)
    suite = write_suite(tmp_path, "outage", epochs=4)

    def training() -> bool:
        experiment = client.get_experiment_by_name("outage")
        runs = runs_by_status(client, "outage").get("RUNNING", []) if experiment else []
        return any(int(r.data.tags.get("checkpoint_epoch", 0)) >= 1 for r in runs)

    try:
        os.environ["MIMO_BENCH_TRACKING_RETRY_SECONDS"] = "90"
        suite_process = start_cli(suite, uri, cache_dir)
        wait_for(training, suite_process)
        stop(server)
        time.sleep(3)
        server = start_server(store, artifacts, port)
        out, err = suite_process.communicate(timeout=600)
        assert suite_process.returncode == 0, err
        runs = runs_by_status(client, "outage")
        assert set(runs) == {"FINISHED"} and len(runs["FINISHED"]) == 3

        os.environ["MIMO_BENCH_TRACKING_RETRY_SECONDS"] = "3"
        forced = start_cli(suite, uri, cache_dir, "--force")
        wait_for(training, forced)
        stop(server)
        out, err = forced.communicate(timeout=120)
        assert forced.returncode == 2
        assert "tracking store unreachable for 3 s" in err and len(err.strip().splitlines()) == 1, err
        runs = runs_by_status(MlflowClient(f"sqlite:///{store}"), "outage")  # the server's own store
        assert len(runs["FINISHED"]) == 3, "the runs finished earlier stay the only finished ones"
        assert len(runs["RUNNING"]) == 1, "the cut-off run is not counted; the next invocation resumes it"
    finally:
        os.environ.pop("MIMO_BENCH_TRACKING_RETRY_SECONDS", None)
        stop(server)
