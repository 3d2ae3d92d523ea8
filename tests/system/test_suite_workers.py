"""A plain suite trained by several `mimo-bench worker` processes through one work queue on PostgreSQL, tracked
by an `mlflow server` backed by PostgreSQL: every run once, the numbers of `--jobs 1`, a dead worker's run
resumed by another, late workers and invocations welcome."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

import optuna
import pytest
from mlflow import MlflowClient

from benchmark.queue.storages import open_storage
from tests.helpers import COMMAND, default_sigint, nested_runs, run_cli
from tests.system.test_cli import free_port
from tests.system.test_parallel import TABULAR, write_suite
from tests.system.test_store_outage import start_server, stop

pytestmark = pytest.mark.slow

STRATEGIES = [{"name": "sum"}, {"name": "normalized"}, {"name": "uncertainty"}, {"name": "dwa"}]
POSTGRES = "postgresql://postgres@127.0.0.1:5432/{}"


@pytest.fixture
def shared(tmp_path, postgres_database):
    """(queue storage URL, tracking URI): an Optuna database and an `mlflow server` on another database."""
    port = free_port()
    server = start_server(None, tmp_path / "artifacts", port, backend=POSTGRES.format(postgres_database("mlflow")))
    yield POSTGRES.format(postgres_database("queue")), f"http://127.0.0.1:{port}"
    stop(server)


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
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        assert any(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.3)


def metrics_of(runs) -> dict:
    return {
        (r.data.tags["strategy"], r.data.tags["seed"]): {
            k: v for k, v in r.data.metrics.items() if k.startswith("test/")
        }
        for r in runs
    }


def queue_units(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    (summary,) = [
        s for s in optuna.get_all_study_summaries(open_storage(storage)) if s.study_name.startswith(f"runs/{name}/")
    ]
    return optuna.load_study(study_name=summary.study_name, storage=open_storage(storage)).trials


def test_three_workers_train_every_run_once_with_the_numbers_of_jobs_1(tmp_path, shared, cache_dir, _migrated_store):
    storage, uri = shared
    suite = write_suite(tmp_path, "workers", STRATEGIES, problem=TABULAR, epochs=6)
    reference = tmp_path / "reference.db"
    reference.write_bytes(_migrated_store.read_bytes())
    alone = run_cli(suite, f"sqlite:///{reference}", cache_dir, "--jobs", "1")
    assert alone.returncode == 0, alone.stderr

    workers = [start_worker(suite, storage, uri, cache_dir) for _ in range(2)]
    wait_until(lambda: len(finished_runs(uri, "workers")) >= 1, workers)
    late = start_worker(suite, storage, uri, cache_dir)  # joins while work waits
    workers.append(late)
    again = subprocess.Popen(  # a second invocation of the suite while the workers run
        [COMMAND, "run", str(suite), "--tracking-uri", uri, "--storage", storage, "--no-progress"],
        env={**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for process in [*workers, again]:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err

    runs = finished_runs(uri, "workers")
    assert len(runs) == 8 and len({r.data.tags["run_key"] for r in runs}) == 8, "every run once"
    client = MlflowClient(uri)
    every = nested_runs(client, client.get_experiment_by_name("workers").experiment_id)
    assert len(every) == 8, "no run started twice, none left in another state"
    assert metrics_of(runs) == metrics_of(finished_runs(f"sqlite:///{reference}", "workers"))
    owners = Counter(r.data.tags["owner"].split(":")[1] for r in runs)
    assert owners[str(late.pid)] >= 1, f"the late worker took work: {owners}"
    units = queue_units(storage, "workers")
    assert len(units) == 8 and all(u.state == optuna.trial.TrialState.COMPLETE for u in units), "nothing added twice"


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
