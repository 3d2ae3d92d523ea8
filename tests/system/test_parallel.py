"""`mimo-bench run --jobs K`: the same results as --jobs 1, every run once, failures and kills contained."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from benchmark.suite.toml import to_toml
from tests.helpers import cli_command, default_sigint, metrics_by_run, nested_runs, run_cli, start_cli, wait_for

pytestmark = pytest.mark.slow

GLYPHS = {"name": "glyphs", "alphabets": 2, "characters": 3, "samples": 12, "image_size": 16, "trajectory_length": 16}
TINY_NET = {"conv_channels": [4], "sequence_hidden": 8, "trunk": [16]}
TABULAR = {"name": "tabular", "samples": 1000, "dim_a": 20, "dim_b": 10}


def write_suite(directory, name: str, strategies: list[dict], problem=GLYPHS, epochs: int = 2, seeds=(0, 1)):
    path = directory / f"{name}.toml"
    suite = {"name": name, "epochs": epochs, "batch_size": 16, "seeds": list(seeds), "problem": problem}
    if problem is GLYPHS:
        suite["model"] = TINY_NET
    path.write_text(to_toml({**suite, "strategies": strategies}))
    return path


def fresh_store(template, directory, name: str) -> str:
    store = directory / name / "mlflow.db"
    store.parent.mkdir()
    store.write_bytes(template.read_bytes())
    return f"sqlite:///{store}"


def runs_of(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    return nested_runs(client, client.get_experiment_by_name(experiment).experiment_id)


def test_jobs_2_trains_each_run_once_with_the_results_of_jobs_1(tmp_path, cache_dir, _migrated_store):
    suite = write_suite(tmp_path, "parallel", [{"name": "sum"}, {"name": "gradnorm"}])
    sequential, parallel = fresh_store(_migrated_store, tmp_path, "one"), fresh_store(_migrated_store, tmp_path, "two")
    one = run_cli(suite, sequential, cache_dir, "--jobs", "1")
    two = run_cli(suite, parallel, cache_dir, "--jobs", "2")
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)

    expected = metrics_by_run(runs_of(sequential, "parallel"))
    assert len(expected) == 4 and all(expected.values())
    assert metrics_by_run(runs_of(parallel, "parallel")) == expected  # bit-identical, run by run

    client = MlflowClient(parallel)
    experiment_id = client.get_experiment_by_name("parallel").experiment_id
    (parent,) = client.search_runs([experiment_id], "tags.kind = 'suite'")
    runs = nested_runs(client, experiment_id, parent.info.run_id)
    assert len(runs) == len({r.data.tags["run_key"] for r in runs}) == 4
    assert {r.info.status for r in runs} == {"FINISHED"} and parent.info.status == "FINISHED"
    assert parent.data.tags["jobs"] == "2"
    owners = {r.data.tags["owner"].rpartition(":")[2] for r in runs}
    assert len(owners) == 2, "two worker processes share the runs"
    assert {r.data.tags["torch_threads"] for r in runs} == {"1"}  # one thread per run by default, in every worker
    import torch

    # the CPU kernels change the last bits too (AVX2 against AVX512): recorded with every run
    assert {r.data.tags["cpu_capability"] for r in runs} == {torch.backends.cpu.get_cpu_capability()}
    rows = [
        line.split("│")[1:3] for line in two.stdout.splitlines() if line.startswith("│ sum ") or "│ gradnorm" in line
    ]
    order = [(label.strip(), seed.strip()) for label, seed in rows[:4]]
    assert order == [("sum", "0"), ("sum", "1"), ("gradnorm", "0"), ("gradnorm", "1")], "summary in suite order"
    assert two.stderr.count("finished in") == 4

    again = run_cli(suite, parallel, cache_dir, "--jobs", "2")
    assert again.returncode == 0, again.stderr
    assert "4 done earlier, 0 run now" in again.stdout
    assert len(runs_of(parallel, "parallel")) == 4
    dry = run_cli(suite, parallel, cache_dir, "--jobs", "2", "--dry-run")
    assert dry.stdout.count("skip (finished earlier)") == 4


def test_a_failing_run_in_a_worker_is_recorded_failed_and_the_rest_finish(tmp_path, tracking_uri, cache_dir):
    strategies = [
        {"name": "sum"},
        {"name": "uncertainty", "lr": 1e4},
        {"name": "static", "weights": {"label": 1.0, "price": 0.5}},
    ]
    suite = write_suite(tmp_path, "diverging", strategies, problem=TABULAR, seeds=(0,))
    result = run_cli(suite, tracking_uri, cache_dir, "--jobs", "2")
    assert result.returncode == 1
    assert "1 run(s) failed" in result.stdout and "weight diverged" in result.stdout
    runs = {r.data.tags["strategy"]: r for r in runs_of(tracking_uri, "diverging")}
    assert {label: r.info.status for label, r in runs.items()} == {
        "sum": "FINISHED",
        "uncertainty": "FAILED",
        "static": "FINISHED",
    }
    assert "weight diverged" in runs["uncertainty"].data.tags["failure_reason"]


def checkpointed(client: MlflowClient, name: str) -> list:
    """The runs of experiment ``name`` still training with at least one epoch checkpointed."""
    experiment = client.get_experiment_by_name(name)
    runs = nested_runs(client, experiment.experiment_id) if experiment else []
    return [r for r in runs if r.info.status == "RUNNING" and int(r.data.tags.get("checkpoint_epoch", 0)) >= 1]


def owner_pid(run) -> int:
    return int(run.data.tags["owner"].rpartition(":")[2])


def test_a_killed_worker_fails_only_its_run_and_the_next_invocation_resumes_it(tmp_path, tracking_uri, cache_dir):
    suite = write_suite(tmp_path, "crash", [{"name": "sum"}, {"name": "normalized"}], problem=TABULAR, epochs=10)
    client = MlflowClient(tracking_uri)
    process = start_cli(suite, tracking_uri, cache_dir, "--jobs", "2")
    wait_for(lambda: checkpointed(client, "crash"), process)
    victim = checkpointed(client, "crash")[0]
    os.kill(owner_pid(victim), signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=300)  # the parent neither hangs nor stops the other worker
    assert process.returncode == 1, stderr
    assert "1 run(s) failed" in stdout and "its worker process died" in stdout

    killed = client.get_run(victim.info.run_id)
    assert killed.info.status == "KILLED" and "worker process died" in killed.data.tags["failure_reason"]
    others = [r for r in runs_of(tracking_uri, "crash") if r.info.run_id != victim.info.run_id]
    assert [r.info.status for r in others] == ["FINISHED"] * 3  # a fresh worker took over the rest

    again = run_cli(suite, tracking_uri, cache_dir, "--jobs", "2")
    assert again.returncode == 0, again.stderr
    resumed = client.get_run(victim.info.run_id)  # resumed in place from its checkpoint
    assert resumed.info.status == "FINISHED" and int(resumed.data.tags["resumed_from_epoch"]) >= 1
    assert len(runs_of(tracking_uri, "crash")) == 4


def test_ctrl_c_stops_every_worker_and_marks_their_runs_killed(tmp_path, tracking_uri, cache_dir):
    suite = write_suite(tmp_path, "stopped", [{"name": "sum"}, {"name": "normalized"}], problem=TABULAR, epochs=30)
    client = MlflowClient(tracking_uri)
    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    command = cli_command(suite, tracking_uri, "--jobs", "2")
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True, preexec_fn=default_sigint
    )
    wait_for(lambda: len(checkpointed(client, "stopped")) == 2, process)
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: to the whole process group
    assert process.wait(timeout=120) == 130
    runs = runs_of(tracking_uri, "stopped")
    assert [r.info.status for r in runs] == ["KILLED", "KILLED"]
    assert all("interrupted by the user" in r.data.tags["failure_reason"] for r in runs)
    for run in runs:
        with pytest.raises(ProcessLookupError):
            os.kill(owner_pid(run), 0)  # the worker is gone
    experiment_id = client.get_experiment_by_name("stopped").experiment_id
    assert [p.info.status for p in client.search_runs([experiment_id], "tags.kind = 'suite'")] == ["KILLED"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process states from /proc")
def test_kill_9_of_the_suite_stops_its_workers_and_the_next_invocation_resumes(tmp_path, tracking_uri, cache_dir):
    suite = write_suite(tmp_path, "orphans", [{"name": "sum"}, {"name": "normalized"}], problem=TABULAR, epochs=30)
    client = MlflowClient(tracking_uri)
    process = start_cli(suite, tracking_uri, cache_dir, "--jobs", "2")
    wait_for(lambda: len(checkpointed(client, "orphans")) == 2, process)
    training = checkpointed(client, "orphans")
    process.kill()  # SIGKILL: the parent runs no handler, so the workers must notice on their own
    process.wait()
    workers = {owner_pid(run) for run in training}
    deadline = time.monotonic() + 60
    while (alive := {pid for pid in workers if _alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive, "the workers train on as orphans"
    assert [client.get_run(run.info.run_id).info.status for run in training] == ["KILLED", "KILLED"]

    again = run_cli(suite, tracking_uri, cache_dir, "--jobs", "2")
    assert again.returncode == 0, again.stderr
    runs = runs_of(tracking_uri, "orphans")
    assert len(runs) == 4 and all(r.info.status == "FINISHED" for r in runs)
    assert all(int(client.get_run(r.info.run_id).data.tags["resumed_from_epoch"]) >= 1 for r in training)


@pytest.mark.parametrize("option", ["--jobs", "--threads"])
def test_jobs_or_threads_below_1_is_a_one_line_usage_error_without_torch(option):
    probe = (
        "import sys; from benchmark.cli import main\n"
        f"status = main(['run', 'missing.toml', '{option}', '0'])\n"
        "print(status, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["2", "False"]
    assert result.stderr == f"mimo-bench: error: {option} must be at least 1, got 0\n"


def test_jobs_auto_is_one_worker_per_usable_core_and_one_per_gpu_on_cuda():
    import torch

    from benchmark.run.processes import resolve_jobs

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert resolve_jobs(None, None, "cpu") == cores
    assert resolve_jobs(None, 2, "cpu") == max(1, cores // 2)
    assert resolve_jobs(None, 10 * cores, "cpu") == 1
    assert resolve_jobs(None, None, "cuda") == max(1, torch.cuda.device_count())
    assert resolve_jobs(3, None, "cuda") == 3  # an explicit count is taken as given


def test_each_cuda_worker_sees_one_gpu_of_those_visible_round_robin():
    from benchmark.run.processes import gpu_environment

    visible = {"CUDA_VISIBLE_DEVICES": "2, 5", "PATH": "/bin"}
    assert [gpu_environment(slot, visible)["CUDA_VISIBLE_DEVICES"] for slot in range(3)] == ["2", "5", "2"]
    assert gpu_environment(1, visible)["PATH"] == "/bin"
    assert gpu_environment(0, {})["CUDA_VISIBLE_DEVICES"] == "0"


def test_jobs_that_is_neither_a_count_nor_auto_is_a_usage_error(capsys):
    from benchmark.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "missing.toml", "--jobs", "many"])
    assert exit_info.value.code == 2
    assert "--jobs: expected a whole number or 'auto', got 'many'" in capsys.readouterr().err
