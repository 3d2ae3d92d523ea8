"""`mimo-bench search --jobs K` worker processes: no pipe that can fill, stopped with their parent, no
secret on their command line (real processes, real stores)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import optuna
import pytest
from mlflow import MlflowClient

from benchmark.queue.storages import open_storage
from tests.helpers import COMMAND, default_sigint
from tests.system.test_search import write_suite

pytestmark = pytest.mark.slow


def plugin_suite(tmp_path, tracking_uri, plugin: str, trials: int, epochs: int):
    path = write_suite(
        tmp_path,
        tracking_uri,
        {"strategies": ["plugin"], "trials": trials, "pruner": "none", "objective": "val/label/accuracy"},
        epochs=epochs,
        name="workers",
    )
    path.write_text(
        path.read_text().replace('name = "gradnorm"', f'name = "tests.search_plugins:{plugin}"\nlabel = "plugin"')
    )
    return path


def start_search(suite, storage: str, tracking_uri: str) -> subprocess.Popen:
    command = [COMMAND, "search", str(suite), "--storage", storage, "--tracking-uri", tracking_uri, "--jobs", "2"]
    return subprocess.Popen(
        [*command, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def test_workers_writing_more_than_a_pipe_holds_do_not_hang_the_search(tmp_path, tracking_uri):
    storage = f"journal:{tmp_path / 'studies.journal'}"
    process = start_search(plugin_suite(tmp_path, tracking_uri, "Chatty", trials=2, epochs=1), storage, tracking_uri)
    try:
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err
    study = optuna.load_study(study_name="workers/plugin", storage=open_storage(storage))
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 2


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited
        return stat.read().rpartition(")")[2].split()[0] != "Z"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_search_stops_its_workers_and_leaves_no_run_running(stop, tmp_path, tracking_uri):
    storage = f"journal:{tmp_path / 'studies.journal'}"
    process = start_search(plugin_suite(tmp_path, tracking_uri, "Slow", trials=4, epochs=20), storage, tracking_uri)
    client = MlflowClient(tracking_uri)
    deadline = time.monotonic() + 120
    while len(running := [r for r in runs(client, "trial") if r.info.status == "RUNNING"]) < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    workers = {int(r.data.tags["owner"].rpartition(":")[2]) for r in running}
    assert len(workers) == 2 and process.pid not in workers
    for pid in workers:  # no secret on a command line: `ps` shows them to every user
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().decode().split("\0")
        assert "-P" in argv and not [a for a in argv if storage in a or tracking_uri in a], argv

    process.send_signal(stop)
    process.communicate(timeout=90)
    deadline = time.monotonic() + 90
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers), "a worker trains on as an orphan"
    left = [r for r in runs(client) if r.info.status == "RUNNING"]
    if stop == signal.SIGTERM:
        assert process.returncode == 130 and not left
    else:  # the killed parent cannot finish its study run; its workers still end their trial runs
        assert not [r for r in left if r.data.tags["kind"] == "trial"]
    assert {r.info.status for r in runs(client) if r.info.run_id in {x.info.run_id for x in running}} == {"KILLED"}


def runs(client: MlflowClient, kind: str = ""):
    experiment = client.get_experiment_by_name("workers")
    query = f"tags.kind = '{kind}'" if kind else ""
    return client.search_runs([experiment.experiment_id], query) if experiment else []
