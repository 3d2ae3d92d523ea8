"""A failing plugin fails only its runs, and no run or parent run is ever left RUNNING for good."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from mlflow import MlflowClient

from benchmark.tracking.store import Tracker
from tests.helpers import cli_command
from tests.system.test_reliability import STRATEGY_ENTRIES, runs_by_status, write_suite

pytestmark = pytest.mark.slow

PLUGIN = """
import sys
from benchmark.api.strategy import LossWeighting

class Raising(LossWeighting):
    '''Raises a markup-like message on its first step.'''
    name = 'raising'
    def combine(self, ctx):
        raise RuntimeError('cannot open [/data/x] for [batch, tasks]')

class Exiting(LossWeighting):
    '''Ends the whole process (SystemExit) on its first step.'''
    name = 'exiting'
    def combine(self, ctx):
        sys.exit('plugin gave up')
"""


def run_with_plugin(tmp_path, uri: str, cache, strategies: list[dict], name: str) -> subprocess.CompletedProcess:
    (tmp_path / "mimo_failing_plugin.py").write_text(PLUGIN)
    suite = write_suite(tmp_path, name, strategies=strategies, epochs=1)
    env = {
        **os.environ,
        "MIMO_BENCH_CACHE": str(cache),
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}",
    }
    return subprocess.run(cli_command(suite, uri), capture_output=True, text=True, env=env, timeout=300)


def one_line(text: str) -> str:
    """Printed text with rich's line wrapping undone."""
    return " ".join(text.split())


def suite_parents(client: MlflowClient, name: str) -> list:
    experiment = client.get_experiment_by_name(name)
    return client.search_runs([experiment.experiment_id], "tags.kind = 'suite'")


def test_a_plugin_error_that_looks_like_markup_fails_only_its_runs_and_prints_literally(
    tmp_path, tracking_uri, cache_dir
):
    entries = [{"name": "mimo_failing_plugin:Raising"}, STRATEGY_ENTRIES[0]]
    result = run_with_plugin(tmp_path, tracking_uri, cache_dir, entries, "markup")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    message = "RuntimeError: cannot open [/data/x] for [batch, tasks]"
    assert f"FAILED mimo_failing_plugin:Raising/seed-0: {message}" in one_line(result.stderr)  # progress
    assert f"mimo_failing_plugin:Raising/seed-0: {message}" in one_line(result.stdout), result.stdout  # summary
    client = MlflowClient(tracking_uri)
    runs = runs_by_status(client, "markup")
    assert [r.data.tags["strategy"] for r in runs["FINISHED"]] == ["sum"], "the next strategy trained"
    assert [r.data.tags["failure_reason"] for r in runs["FAILED"]] == [message]
    assert [p.info.status for p in suite_parents(client, "markup")] == ["FAILED"]


def test_an_exception_that_ends_the_process_leaves_no_run_running(tmp_path, tracking_uri, cache_dir):
    result = run_with_plugin(tmp_path, tracking_uri, cache_dir, [{"name": "mimo_failing_plugin:Exiting"}], "exiting")
    assert result.returncode != 0 and "plugin gave up" in result.stderr
    client = MlflowClient(tracking_uri)
    (failed,) = runs_by_status(client, "exiting")["FAILED"]
    assert "plugin gave up" in failed.data.tags["failure_reason"]
    (parent,) = suite_parents(client, "exiting")
    assert parent.info.status == "FAILED"
    assert "SystemExit: plugin gave up" in parent.data.tags["failure_reason"]


def test_a_parent_run_whose_process_is_gone_is_retired_by_the_next_invocation(tmp_path, tracking_uri, cache_dir):
    suite = write_suite(tmp_path, "orphaned", strategies=STRATEGY_ENTRIES[:1], epochs=1)
    client = MlflowClient(tracking_uri)
    experiment_id = Tracker(tracking_uri).experiment("orphaned")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs, as after kill -9
    owner = f"{socket.gethostname()}:{dead.pid}"
    orphan = client.create_run(experiment_id, tags={"kind": "suite", "owner": owner}, run_name="killed -9")
    alive = client.create_run(experiment_id, tags={"kind": "suite", "owner": f"{socket.gethostname()}:{os.getpid()}"})

    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    result = subprocess.run(cli_command(suite, tracking_uri), capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    retired = client.get_run(orphan.info.run_id)
    assert retired.info.status == "KILLED"
    assert f"its process ({owner}) is gone" in retired.data.tags["failure_reason"]
    assert client.get_run(alive.info.run_id).info.status == "RUNNING", "a live invocation's parent is left alone"
    statuses = sorted(p.info.status for p in suite_parents(client, "orphaned"))
    assert statuses == ["FINISHED", "KILLED", "RUNNING"]
