"""The work queue on its real storages (a journal file, PostgreSQL): each unit is held by exactly one process,
a key is added once however many processes add it at once, and a dead holder's unit goes back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from benchmark.queue.work import MAX_RETRIES, WorkQueue

pytestmark = pytest.mark.slow

TAKER = """
import json, sys, time
from benchmark.queue.work import WorkQueue

url, name, mode = sys.argv[1:]
queue = WorkQueue(url, name, grace=2)
print("ready", flush=True)
sys.stdin.readline()  # every taker starts at the same moment
if mode == "add":
    print(json.dumps(queue.add({"key": f"run-{i}"} for i in range(24))), flush=True)
    sys.exit()
taken = []
while (unit := queue.take()) is not None:
    taken.append(unit.key)
    if mode == "hold":  # die holding it
        print(json.dumps(taken), flush=True)
        time.sleep(600)
    queue.done(unit, True)
print(json.dumps(taken), flush=True)
"""


@pytest.fixture(params=["journal", "postgresql"])
def storage(request, tmp_path):
    if request.param == "journal":
        return f"journal:{tmp_path / 'queue.journal'}"
    return f"postgresql://postgres@127.0.0.1:5432/{request.getfixturevalue('postgres_database')('queue')}"


def takers(storage: str, name: str, count: int, mode: str = "all") -> list[subprocess.Popen]:
    """``count`` processes that take units together, each printing the keys it took."""
    command = [sys.executable, "-c", TAKER, storage, name, mode]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    processes = [subprocess.Popen(command, **pipes) for _ in range(count)]
    for process in processes:
        assert process.stdout.readline().strip() == "ready", process.communicate()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    return processes


def test_adding_is_idempotent_and_units_come_out_oldest_first(storage):
    queue = WorkQueue(storage, "order")
    assert queue.add({"key": k} for k in "abc") == 3
    assert queue.add({"key": k} for k in "cbd") == 1  # only d is new
    first = queue.take()
    assert first.key == "a" and first.attrs["retries"] == 0
    assert queue.take({"c", "d"}).key == "c"  # restricted to the keys this process can train
    queue.done(first, True)
    assert queue.open_keys() == {"b", "c", "d"}
    assert queue.add([{"key": "a"}]) == 1  # a finished key may be added again (a later invocation, --force)
    asked = []
    assert queue.add([{"key": "e"}, {"key": "b"}], wanted=lambda key: asked.append(key) or False) == 0
    assert asked == ["e"], "only keys not waiting or held are asked about (a run another worker just finished)"


def test_four_processes_taking_at_once_hold_each_unit_exactly_once(storage):
    WorkQueue(storage, "race").add({"key": f"run-{i}"} for i in range(24))
    outputs = [p.communicate(timeout=300) for p in takers(storage, "race", 4)]
    taken = [key for out, err in outputs for key in json.loads(out.strip().splitlines()[-1])]
    assert sorted(taken) == sorted(f"run-{i}" for i in range(24)), outputs
    assert len(taken) == len(set(taken)), "a unit was held twice"


def test_four_processes_adding_the_same_keys_at_once_add_each_once(storage):
    outputs = [p.communicate(timeout=300) for p in takers(storage, "adders", 4, mode="add")]
    added = [json.loads(out.strip().splitlines()[-1]) for out, err in outputs]
    assert sum(added) == 24, outputs
    units = WorkQueue(storage, "adders").units()
    assert sorted(u.user_attrs["key"] for u in units) == sorted(f"run-{i}" for i in range(24)), "a key added twice"


def test_a_unit_whose_holder_on_this_host_died_goes_back_until_its_retries_run_out(storage):
    queue = WorkQueue(storage, "dead")
    queue.add([{"key": "fragile"}])
    for attempt in range(MAX_RETRIES + 1):
        (holder,) = takers(storage, "dead", 1, mode="hold")
        assert json.loads(holder.stdout.readline()) == ["fragile"]
        holder.kill()
        holder.wait()
        queue.reap()
        waiting = [t.user_attrs["retries"] for t in queue.units((TrialState.WAITING,))]
        assert waiting == ([attempt + 1] if attempt < MAX_RETRIES else []), attempt
    assert queue.take() is None, f"given up after {MAX_RETRIES} retries"


def test_on_postgresql_a_unit_whose_remote_holder_stops_beating_goes_back(postgres_database):
    """A holder on another machine cannot be checked by pid: Optuna's heartbeat (grace 2 s here) tells."""
    storage = f"postgresql://postgres@127.0.0.1:5432/{postgres_database('beats')}"
    queue = WorkQueue(storage, "remote", grace=2)
    queue.add([{"key": "far"}])
    (holder,) = takers(storage, "remote", 1, mode="hold")
    assert json.loads(holder.stdout.readline()) == ["far"]
    (held,) = queue.units((TrialState.RUNNING,))
    held_id = queue.storage.get_trial_id_from_study_id_trial_number(queue.study_id, held.number)
    queue.storage.set_trial_user_attr(held_id, "owner", "another-machine:1")  # as if it ran elsewhere
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert queue.take() is None, "within the grace period it is still held"
    time.sleep(3)
    unit = queue.take()
    assert unit.key == "far" and unit.attrs["retries"] == 1
    assert queue.units()[held.number].state == TrialState.FAIL


@pytest.mark.parametrize("kind", ["sqlite", "mysql"])
def test_a_database_that_cannot_hand_out_work_once_is_refused_as_a_queue_in_one_line(kind, tmp_path):
    from benchmark.api.errors import MimoBenchError

    url = f"sqlite:///{tmp_path / 'q.db'}" if kind == "sqlite" else "mysql://me@127.0.0.1/q"
    with pytest.raises(MimoBenchError, match="journal:PATH on one machine or postgresql"):
        WorkQueue(url, "refused")
    assert not (tmp_path / "q.db").exists()
