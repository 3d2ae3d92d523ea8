"""Shared stores (an `mlflow server`): lost responses and signals mid-write (racing workers: test_work_queue)."""

from __future__ import annotations

import signal
import time

import pytest
from mlflow import MlflowClient

from benchmark.tracking.store import Tracker
from tests.helpers import nested_runs, start_cli
from tests.proxy import Proxy
from tests.system.test_cli import free_port
from tests.system.test_reliability import STRATEGY_ENTRIES, write_suite
from tests.system.test_store_outage import start_server, stop

pytestmark = pytest.mark.slow

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def server_port(tmp_path, _migrated_store):
    """A real `mlflow server` on a SQLite file; its port."""
    store, port = tmp_path / "server.db", free_port()
    store.write_bytes(_migrated_store.read_bytes())
    server = start_server(store, tmp_path / "artifacts", port)
    yield port
    stop(server)


def test_retries_after_a_lost_response_duplicate_no_run_and_no_metric_point(server_port):
    proxy = Proxy(server_port)
    created = proxy.add("/runs/create", "", "drop")
    logged = proxy.add("/runs/log-batch", "train/a/loss", "drop")
    try:
        tracker = Tracker(f"http://127.0.0.1:{proxy.port}")
        experiment_id = tracker.experiment("lost-responses")
        log = tracker.start_run(experiment_id, "run", {"seed": 0}, {"lr": 0.1})
        log.metrics({"train/a/loss": 0.5, "train/b/loss": 0.25}, 1)
    finally:
        proxy.close()
    assert created.matched.is_set() and logged.matched.is_set(), "both first responses were dropped"
    direct = MlflowClient(f"http://127.0.0.1:{server_port}")
    assert [r.info.run_id for r in direct.search_runs([experiment_id])] == [log.run_id], "one run, not two"
    for key in ("train/a/loss", "train/b/loss"):
        assert len(direct.get_metric_history(log.run_id, key)) == 1, f"one point of {key}"


def test_sigterm_during_a_store_write_is_taken_after_it_and_the_run_is_marked_killed(server_port, tmp_path, cache_dir):
    proxy = Proxy(server_port)
    held = proxy.add("/runs/create", "run_key", "hold")  # the (strategy, seed) run's creation, not the parent's
    suite = write_suite(tmp_path, "sigterm", strategies=STRATEGY_ENTRIES[:1], epochs=2)
    try:
        process = start_cli(suite, f"http://127.0.0.1:{proxy.port}", cache_dir)
        assert held.matched.wait(180), process.stderr.read() if process.poll() is not None else "no run created"
        process.send_signal(signal.SIGTERM)  # while the client waits for the server's answer
        time.sleep(1)
        held.released.set()
        assert process.wait(timeout=120) == 130, process.stderr.read()
    finally:
        proxy.close()
    client = MlflowClient(f"http://127.0.0.1:{server_port}")
    experiment_id = client.get_experiment_by_name("sigterm").experiment_id
    (run,) = nested_runs(client, experiment_id)
    assert run.info.status == "KILLED", "the run whose creation the signal met is not left RUNNING"
    assert "interrupted by the user" in run.data.tags["failure_reason"]
    (parent,) = client.search_runs([experiment_id], "tags.kind = 'suite'")
    assert parent.info.status == "KILLED"
