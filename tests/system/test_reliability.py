"""Never lose a finished run: kill -9, Ctrl-C, concurrent invocations, diverging and broken strategies."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess

import pytest
from mlflow import MlflowClient

from benchmark.api.registry import STRATEGIES
from benchmark.cli import main
from benchmark.suite.toml import to_toml
from benchmark.tracking.store import Tracker
from tests.helpers import cli_command, nested_runs, run_cli, start_cli, wait_for

pytestmark = pytest.mark.slow

PROBLEM = {"name": "tabular", "samples": 3000, "dim_a": 20, "dim_b": 10}
STRATEGY_ENTRIES = [
    {"name": "sum"},
    {"name": "static", "weights": {"label": 1.0, "price": 0.5}},
    {"name": "gradnorm"},
]


def write_suite(directory, name: str, strategies=STRATEGY_ENTRIES, epochs: int = 5):
    path = directory / f"{name}.toml"
    suite = {"name": name, "epochs": epochs, "batch_size": 16, "seeds": [0], "problem": PROBLEM}
    path.write_text(to_toml({**suite, "strategies": strategies}))
    return path


def runs_by_status(client: MlflowClient, experiment_name: str) -> dict[str, list]:
    experiment = client.get_experiment_by_name(experiment_name)
    grouped: dict[str, list] = {}
    for run in nested_runs(client, experiment.experiment_id):
        grouped.setdefault(run.info.status, []).append(run)
    return grouped


def finished_and_training(client: MlflowClient, name: str) -> bool:
    """At least one run finished and another one has a resume checkpoint but is not finished."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return False
    runs = nested_runs(client, experiment.experiment_id)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    training = [r for r in runs if r.info.status == "RUNNING" and int(r.data.tags.get("checkpoint_epoch", 0)) >= 1]
    return bool(finished) and bool(training)


def test_kill_9_mid_suite_then_resume_loses_and_duplicates_nothing(tmp_path, tracking_uri, cache_dir, _migrated_store):
    suite = write_suite(tmp_path, "killed")
    client = MlflowClient(tracking_uri)
    process = start_cli(suite, tracking_uri, cache_dir)
    wait_for(lambda: finished_and_training(client, "killed"), process)
    process.kill()  # SIGKILL: no handler runs
    process.wait()

    before = runs_by_status(client, "killed")
    finished_before = {r.info.run_id: r.data.metrics for r in before["FINISHED"]}
    (interrupted,) = before["RUNNING"]
    interrupted_epoch = int(interrupted.data.tags["checkpoint_epoch"])
    assert interrupted_epoch >= 1

    again = run_cli(suite, tracking_uri, cache_dir)
    assert again.returncode == 0, again.stderr
    assert f"{len(finished_before)} done earlier" in again.stdout

    after = runs_by_status(client, "killed")
    assert set(after) == {"FINISHED"}, "no run may be left RUNNING, KILLED or FAILED"
    assert len({r.data.tags["run_key"] for r in after["FINISHED"]}) == len(after["FINISHED"]) == 3
    for run in after["FINISHED"]:
        if run.info.run_id in finished_before:
            assert run.data.metrics == finished_before[run.info.run_id], "a finished run was touched"
    resumed = client.get_run(interrupted.info.run_id)  # resumed in place: same run id
    assert resumed.info.status == "FINISHED"
    assert resumed.data.tags["resumed_from_epoch"] == str(interrupted_epoch)
    epochs_logged = [m.step for m in client.get_metric_history(resumed.info.run_id, "train/label/loss")]
    assert sorted(set(epochs_logged)) == [1, 2, 3, 4, 5]

    # the same run, uninterrupted, in a store of its own: identical test metrics
    label = interrupted.data.tags["strategy"]
    entry = next(e for e in STRATEGY_ENTRIES if e["name"] == label)
    reference_suite = write_suite(tmp_path, "killed", strategies=[entry])
    reference_store = tmp_path / "reference.db"
    reference_store.write_bytes(_migrated_store.read_bytes())
    reference_uri = f"sqlite:///{reference_store}"
    assert run_cli(reference_suite, reference_uri, cache_dir).returncode == 0
    (reference,) = runs_by_status(MlflowClient(reference_uri), "killed")["FINISHED"]
    assert reference.data.tags["run_key"] == interrupted.data.tags["run_key"]
    test_metrics = {k: v for k, v in reference.data.metrics.items() if k.startswith("test/")}
    assert test_metrics == {k: v for k, v in resumed.data.metrics.items() if k.startswith("test/")}


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_or_kill_marks_the_run_killed_and_the_next_invocation_resumes(tmp_path, tracking_uri, cache_dir, stop):
    suite = write_suite(tmp_path, "interrupted", strategies=STRATEGY_ENTRIES[:1], epochs=8)
    client = MlflowClient(tracking_uri)

    def checkpointed() -> bool:
        experiment = client.get_experiment_by_name("interrupted")
        runs = nested_runs(client, experiment.experiment_id) if experiment else []
        return any(int(r.data.tags.get("checkpoint_epoch", 0)) >= 1 for r in runs)

    process = start_cli(suite, tracking_uri, cache_dir)
    wait_for(checkpointed, process)
    process.send_signal(stop)
    assert process.wait(timeout=60) == 130
    (killed,) = runs_by_status(client, "interrupted")["KILLED"]
    assert int(killed.data.tags["killed_at_epoch"]) >= 1
    assert "interrupted by the user" in killed.data.tags["failure_reason"]
    experiment = client.get_experiment_by_name("interrupted")
    parents = client.search_runs([experiment.experiment_id], "tags.kind = 'suite'")
    assert [p.info.status for p in parents] == ["KILLED"]

    again = run_cli(suite, tracking_uri, cache_dir)
    assert again.returncode == 0, again.stderr
    (finished,) = runs_by_status(client, "interrupted")["FINISHED"]
    assert finished.info.run_id == killed.info.run_id
    assert int(finished.data.tags["resumed_from_epoch"]) >= 1


def test_two_invocations_at_once_run_everything_exactly_once(tmp_path, tracking_uri, cache_dir):
    suite = write_suite(tmp_path, "concurrent", epochs=3)
    first = start_cli(suite, tracking_uri, cache_dir)
    second = start_cli(suite, tracking_uri, cache_dir)
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    runs = runs_by_status(MlflowClient(tracking_uri), "concurrent")
    assert set(runs) == {"FINISHED"}
    assert sorted(r.data.tags["strategy"] for r in runs["FINISHED"]) == ["gradnorm", "static", "sum"]
    owners = {r.data.tags["owner"] for r in runs["FINISHED"]}
    assert all(owner.endswith((f":{first.pid}", f":{second.pid}")) for owner in owners)


def test_a_diverging_strategy_fails_alone_with_its_reason(tmp_path, tracking_uri, cache_dir):
    strategies = [STRATEGY_ENTRIES[0], {"name": "uncertainty", "lr": 1e4}, STRATEGY_ENTRIES[1]]
    suite = write_suite(tmp_path, "diverging", strategies=strategies, epochs=2)
    result = run_cli(suite, tracking_uri, cache_dir)
    assert result.returncode == 1
    assert "1 run(s) failed" in result.stdout and "weight diverged" in result.stdout
    runs = runs_by_status(MlflowClient(tracking_uri), "diverging")
    assert sorted(r.data.tags["strategy"] for r in runs["FINISHED"]) == ["static", "sum"]
    (failed,) = runs["FAILED"]
    assert "weight diverged" in failed.data.tags["failure_reason"]
    assert int(failed.data.tags["failure_step"]) >= 0
    tolerated = run_cli(suite, tracking_uri, cache_dir, "--allow-failures")
    assert tolerated.returncode == 0  # the failed run is retried, fails again, and is tolerated


def test_a_plugin_that_fails_to_import_fails_only_its_runs(tmp_path, tracking_uri, monkeypatch, capsys):
    (tmp_path / "mimo_broken_plugin.py").write_text("raise ImportError('missing dependency: fancylib')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry_point = importlib.metadata.EntryPoint("broken", "mimo_broken_plugin:Strategy", "mimo_bench.strategies")
    saved = dict(STRATEGIES._entry_points), dict(STRATEGIES._classes)
    STRATEGIES.add_entry_point(entry_point)
    try:
        suite = write_suite(tmp_path, "plugins", strategies=[{"name": "broken"}, STRATEGY_ENTRIES[0]], epochs=1)
        assert main(["run", str(suite), "--tracking-uri", tracking_uri, "--no-progress"]) == 1
    finally:
        STRATEGIES._entry_points, STRATEGIES._classes = saved
    runs = runs_by_status(MlflowClient(tracking_uri), "plugins")
    assert [r.data.tags["strategy"] for r in runs["FINISHED"]] == ["sum"]
    (failed,) = runs["FAILED"]
    assert "failed to import" in failed.data.tags["failure_reason"]
    assert "missing dependency: fancylib" in failed.data.tags["failure_reason"]


def test_unreachable_store_is_one_clear_error_before_training(tmp_path, capsys):
    suite = write_suite(tmp_path, "nowhere", epochs=1)
    status = main(["run", str(suite), "--tracking-uri", "postgresql://nobody@127.0.0.1:1/none", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "tracking store 'postgresql://nobody@127.0.0.1:1/none' is not reachable" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mlruns").exists() and os.listdir(tmp_path) == ["nowhere.toml"]


def test_a_stale_run_without_checkpoint_is_failed_with_its_reason_and_rerun(tmp_path, tracking_uri, cache_dir):
    from benchmark.suite.plan import expand
    from benchmark.suite.schema import load_suite

    suite_path = write_suite(tmp_path, "stale", strategies=STRATEGY_ENTRIES[:1], epochs=1)
    (spec,) = expand(load_suite(suite_path, tracking_uri))
    client = MlflowClient(tracking_uri)
    experiment_id = Tracker(tracking_uri).experiment("stale")  # artifacts beside the store, not in ./mlruns
    dead = subprocess.Popen(["true"])
    dead.wait()  # a process id that no longer runs
    orphan = client.create_run(
        experiment_id, tags={"run_key": spec.run_key, "owner": f"{socket.gethostname()}:{dead.pid}"}, run_name=spec.name
    )
    dry = subprocess.run(cli_command(suite_path, tracking_uri, "--dry-run"), capture_output=True, text=True)
    assert dry.returncode == 0 and f"{spec.name}" in dry.stdout and " run" in dry.stdout

    result = run_cli(suite_path, tracking_uri, cache_dir)
    assert result.returncode == 0, result.stderr
    retired = client.get_run(orphan.info.run_id)
    assert retired.info.status == "FAILED"
    assert "before its first epoch checkpoint" in retired.data.tags["failure_reason"]
    runs = runs_by_status(client, "stale")
    assert len(runs["FINISHED"]) == 1 and runs["FINISHED"][0].info.run_id != orphan.info.run_id

    dry = subprocess.run(cli_command(suite_path, tracking_uri, "--dry-run"), capture_output=True, text=True)
    assert "skip (finished earlier)" in dry.stdout


def test_a_strategy_that_raises_while_training_fails_only_its_runs(tmp_path, tracking_uri):
    (tmp_path / "mimo_raising_plugin.py").write_text(
        "from benchmark.api.strategy import LossWeighting\n"
        "class Raising(LossWeighting):\n"
        "    '''Raises on its third step.'''\n"
        "    name = 'raising'\n"
        "    def combine(self, ctx):\n"
        "        if ctx.step == 2:\n"
        "            raise RuntimeError('numerical trouble in the plugin')\n"
        "        return sum(ctx.losses.values()), {n: ctx.losses[n].new_tensor(1.0) for n in self.task_names}\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        entries = [{"name": "mimo_raising_plugin:Raising"}, STRATEGY_ENTRIES[0]]
        suite = write_suite(tmp_path, "raising", strategies=entries, epochs=1)
        assert main(["run", str(suite), "--tracking-uri", tracking_uri, "--no-progress"]) == 1
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mimo_raising_plugin", None)
    runs = runs_by_status(MlflowClient(tracking_uri), "raising")
    assert [r.data.tags["strategy"] for r in runs["FINISHED"]] == ["sum"]
    (failed,) = runs["FAILED"]
    assert failed.data.tags["failure_reason"] == "RuntimeError: numerical trouble in the plugin"


def test_a_non_finite_loss_ends_the_run_with_the_step():
    from benchmark.api.registry import PROBLEMS
    from benchmark.train.model import ModelConfig
    from benchmark.train.trainer import RunFailed, TrainConfig, Trainer

    data = PROBLEMS.get("tabular")(samples=200, dim_a=8, dim_b=4, target_scale=1e30).load(0)
    trainer = Trainer(data, ModelConfig(), lambda tasks: STRATEGIES.get("sum")(tasks), TrainConfig(1, 16, 1e-3))
    with pytest.raises(RunFailed, match="non-finite loss for task\\(s\\) price") as failure:
        trainer.train_epoch()
    assert failure.value.step == 0


@pytest.mark.parametrize(("seconds", "expected"), [("0", "3"), ("3600", "1")])
def test_resume_checkpoints_come_after_the_first_epoch_then_at_most_every_interval(
    tracking_uri, monkeypatch, seconds, expected
):
    from benchmark.tracking.store import Tracker

    monkeypatch.setenv("MIMO_BENCH_CHECKPOINT_SECONDS", seconds)
    tracker = Tracker(tracking_uri)
    log = tracker.start_run(tracker.experiment("checkpoints"), "run", {}, {})
    for epoch in (1, 2, 3):
        log.end_epoch({"train/a/loss": 1.0 / epoch}, epoch, lambda epoch=epoch: {"epoch": epoch})
    run = tracker.client.get_run(log.run_id)
    assert run.data.tags["checkpoint_epoch"] == expected
    assert tracker.load_checkpoint(log.run_id) == {"epoch": int(expected)}
    assert len(tracker.client.get_metric_history(log.run_id, "train/a/loss")) == 3  # metrics every epoch
