"""A plain suite trained by several `mimo-bench worker` processes through one work queue on PostgreSQL, tracked
by an `mlflow server` backed by PostgreSQL: every run once, with the numbers of `--jobs 1`; a late worker and a
second invocation welcome (a killed worker: test_suite_workers_kill)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

import optuna
import pytest
from mlflow import MlflowClient

from benchmark.queue.storages import open_storage
from tests.helpers import COMMAND, metrics_by_run, nested_runs, run_cli
from tests.system.test_parallel import TABULAR, write_suite
from tests.workers import STRATEGIES, finished_runs, start_worker, wait_until

pytestmark = pytest.mark.slow


def queue_units(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    (summary,) = [
        s for s in optuna.get_all_study_summaries(open_storage(storage)) if s.study_name.startswith(f"runs/{name}/")
    ]
    return optuna.load_study(study_name=summary.study_name, storage=open_storage(storage)).trials


def held_by(storage: str, name: str, pid: int) -> bool:
    """Whether the process ``pid`` has taken a unit of suite ``name``'s queue."""
    return any(u.user_attrs.get("owner", "").endswith(f":{pid}") for u in queue_units(storage, name))


def test_three_workers_train_every_run_once_with_the_numbers_of_jobs_1(tmp_path, shared, cache_dir, _migrated_store):
    storage, uri = shared
    suite = write_suite(tmp_path, "workers", STRATEGIES, problem=TABULAR, epochs=6)
    reference = tmp_path / "reference.db"
    reference.write_bytes(_migrated_store.read_bytes())
    alone = run_cli(suite, f"sqlite:///{reference}", cache_dir, "--jobs", "1")
    assert alone.returncode == 0, alone.stderr

    workers = [start_worker(suite, storage, uri, cache_dir) for _ in range(2)]
    wait_until(lambda: len(finished_runs(uri, "workers")) >= 1, workers)
    for worker in workers:  # paused (well inside the heartbeats' grace), so that work waits for the late worker
        worker.send_signal(signal.SIGSTOP)
    late = start_worker(suite, storage, uri, cache_dir)
    try:
        wait_until(lambda: held_by(storage, "workers", late.pid), [late], timeout=45)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGCONT)
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
    assert metrics_by_run(runs) == metrics_by_run(finished_runs(f"sqlite:///{reference}", "workers"))
    owners = Counter(r.data.tags["owner"].split(":")[1] for r in runs)
    assert owners[str(late.pid)] >= 1, f"the late worker took work: {owners}"
    units = queue_units(storage, "workers")
    assert len(units) == 8 and all(u.state == optuna.trial.TrialState.COMPLETE for u in units), "nothing added twice"
