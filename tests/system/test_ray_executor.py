"""`mimo-bench run --executor ray` on a real local Ray cluster (`ray start --head`): every run once, with the
numbers of `--jobs 1`, and a Ray worker killed mid-run (kill -9) retried by Ray and resumed from its checkpoint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.helpers import cli_command, metrics_by_run, nested_runs, run_cli
from tests.system.test_cli import free_port
from tests.system.test_parallel import TABULAR, checkpointed, owner_pid, write_suite
from tests.workers import finished_runs, wait_until

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).parent / "ray")


@pytest.fixture
def ray_address():
    """A local Ray cluster of 2 CPUs, started and stopped as a user would."""
    pytest.importorskip("ray", reason="needs ray (pip install 'mimo-bench[ray]')")
    if not shutil.which(RAY):
        pytest.skip("needs the ray command")
    port = free_port()
    command = [RAY, "start", "--head", "--num-cpus", "2", "--port", str(port), "--include-dashboard=false"]
    subprocess.run([*command, "--disable-usage-stats"], check=True, capture_output=True, timeout=180)
    yield f"127.0.0.1:{port}"
    subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def test_ray_tasks_train_every_run_once_and_a_killed_task_resumes_its_run(
    tmp_path, ray_address, cache_dir, _migrated_store
):
    suite = write_suite(tmp_path, "on-ray", [{"name": "sum"}, {"name": "normalized"}], problem=TABULAR, epochs=12)
    reference, store = tmp_path / "reference.db", tmp_path / "ray.db"
    for path in (reference, store):
        path.write_bytes(_migrated_store.read_bytes())
    alone = run_cli(suite, f"sqlite:///{reference}", cache_dir, "--jobs", "1")
    assert alone.returncode == 0, alone.stderr

    uri = f"sqlite:///{store}"
    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    command = cli_command(suite, uri, "--executor", "ray", "--address", ray_address)
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = MlflowClient(uri)

    wait_until(lambda: bool(checkpointed(client, "on-ray")), [driver], timeout=600)
    victim = min(
        checkpointed(client, "on-ray"), key=lambda r: int(r.data.tags["checkpoint_epoch"])
    )  # furthest from its end
    pid = owner_pid(victim)
    os.kill(pid, signal.SIGKILL)  # the Ray worker process training it
    out, err = driver.communicate(timeout=900)
    assert driver.returncode == 0, err

    runs = nested_runs(client, client.get_experiment_by_name("on-ray").experiment_id)
    assert len(runs) == 4 and all(r.info.status == "FINISHED" for r in runs), "0 lost, 0 duplicated"
    resumed = client.get_run(victim.info.run_id)
    assert int(resumed.data.tags["resumed_from_epoch"]) >= 1, "the retried task resumed it in place"
    assert int(resumed.data.tags["owner"].split(":")[1]) != pid

    assert metrics_by_run(finished_runs(uri, "on-ray")) == metrics_by_run(
        finished_runs(f"sqlite:///{reference}", "on-ray")
    ), "the numbers of --jobs 1, resume included"
