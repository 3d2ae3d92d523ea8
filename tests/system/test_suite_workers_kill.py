"""A `mimo-bench worker` killed (kill -9) mid-run: its run is put back in the queue and resumed by another worker
from its checkpoint, nothing lost or trained twice (its own file, so that pytest-xdist runs it beside the others)."""

from __future__ import annotations

import os
import signal

import pytest
from mlflow import MlflowClient

from tests.helpers import nested_runs
from tests.system.test_parallel import TABULAR, write_suite
from tests.workers import STRATEGIES, start_worker, wait_until

pytestmark = pytest.mark.slow


def test_a_killed_workers_run_is_resumed_by_another_from_its_checkpoint(tmp_path, shared, cache_dir):
    storage, uri = shared
    suite = write_suite(tmp_path, "kill9", STRATEGIES, problem=TABULAR, epochs=30)
    client = MlflowClient(uri)
    workers = [start_worker(suite, storage, uri, cache_dir) for _ in range(3)]

    def checkpointed() -> list:
        experiment = client.get_experiment_by_name("kill9")
        runs = nested_runs(client, experiment.experiment_id) if experiment else []
        return [r for r in runs if r.info.status == "RUNNING" and int(r.data.tags.get("checkpoint_epoch", 0)) >= 1]

    wait_until(lambda: bool(checkpointed()), workers)
    victim = checkpointed()[0]
    pid = int(victim.data.tags["owner"].split(":")[1])
    os.kill(pid, signal.SIGKILL)
    for process in workers:
        out, err = process.communicate(timeout=600)
        assert process.returncode == (-signal.SIGKILL if process.pid == pid else 0), err

    experiment_id = client.get_experiment_by_name("kill9").experiment_id
    runs = nested_runs(client, experiment_id)
    assert len(runs) == 8 and all(r.info.status == "FINISHED" for r in runs), "0 lost, 0 duplicated"
    resumed = client.get_run(victim.info.run_id)
    assert int(resumed.data.tags["resumed_from_epoch"]) >= 1
    assert resumed.data.tags["owner"].split(":")[1] != str(pid), "another worker finished it"
