"""A plain suite trained by several `mimo-bench worker` processes through one work queue on PostgreSQL, tracked
by an `mlflow server` backed by PostgreSQL: every run once, with the numbers of `--jobs 1`, though a worker
joins late, another is killed (kill -9) mid-run and a second invocation of the suite comes along."""

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
from tests.system.test_parallel import TABULAR, checkpointed, owner_pid, write_suite
from tests.workers import STRATEGIES, finished_runs, start_worker, wait_until

pytestmark = pytest.mark.slow


def queue_units(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    """Suite ``name``'s queue units, read through one storage whose connections are closed afterwards (the test
    polls this: an engine per call would hold PostgreSQL's connections until its 100 are gone)."""
    opened = open_storage(storage)
    try:
        (summary,) = [s for s in optuna.get_all_study_summaries(opened) if s.study_name.startswith(f"runs/{name}/")]
        return optuna.load_study(study_name=summary.study_name, storage=opened).trials
    finally:
        opened.engine.dispose()


def held_by(storage: str, name: str, pid: int) -> bool:
    """Whether the process ``pid`` has taken a unit of suite ``name``'s queue."""
    return any(u.user_attrs.get("owner", "").endswith(f":{pid}") for u in queue_units(storage, name))


def checkpointed_by(uri: str, name: str, pids: set[int]) -> list:
    """The runs of suite ``name`` that one of ``pids`` is training, with at least one epoch checkpointed."""
    return [r for r in checkpointed(MlflowClient(uri), name) if owner_pid(r) in pids]


def test_workers_late_or_killed_train_every_run_once_with_the_numbers_of_jobs_1(
    tmp_path, shared, cache_dir, _migrated_store
):
    storage, uri = shared
    suite = write_suite(tmp_path, "workers", STRATEGIES, problem=TABULAR, epochs=12)
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

    first_two = {worker.pid for worker in workers}
    workers.append(late)
    wait_until(lambda: bool(checkpointed_by(uri, "workers", first_two)), workers)
    victim = min(checkpointed_by(uri, "workers", first_two), key=lambda r: int(r.data.tags["checkpoint_epoch"]))
    killed = owner_pid(victim)
    os.kill(killed, signal.SIGKILL)  # mid-run: its unit goes back, and another worker resumes the run
    again = subprocess.Popen(  # a second invocation of the suite while the workers run
        [COMMAND, "run", str(suite), "--tracking-uri", uri, "--storage", storage, "--no-progress"],
        env={**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for process in [*workers, again]:
        out, err = process.communicate(timeout=600)
        assert process.returncode == (-signal.SIGKILL if process.pid == killed else 0), err

    runs = finished_runs(uri, "workers")
    assert len(runs) == 8 and len({r.data.tags["run_key"] for r in runs}) == 8, "every run once"
    client = MlflowClient(uri)
    every = nested_runs(client, client.get_experiment_by_name("workers").experiment_id)
    assert len(every) == 8, "no run started twice, none lost or left in another state"
    assert metrics_by_run(runs) == metrics_by_run(finished_runs(f"sqlite:///{reference}", "workers")), (
        "the numbers of --jobs 1, resume included"
    )
    resumed = client.get_run(victim.info.run_id)
    assert int(resumed.data.tags["resumed_from_epoch"]) >= 1, "resumed in place from its checkpoint"
    assert resumed.data.tags["owner"].split(":")[1] != str(killed), "another worker finished it"
    owners = Counter(r.data.tags["owner"].split(":")[1] for r in runs)
    assert owners[str(late.pid)] >= 1, f"the late worker took work: {owners}"
    units = queue_units(storage, "workers")
    done = [u.user_attrs["key"] for u in units if u.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(done) == sorted(r.data.tags["run_key"] for r in runs), "each run's unit done once"
    failed = [u for u in units if u.state != optuna.trial.TrialState.COMPLETE]
    assert [(u.state, u.user_attrs["key"]) for u in failed] == [
        (optuna.trial.TrialState.FAIL, resumed.data.tags["run_key"])
    ], "nothing added twice: only the killed worker's unit, put back once"
