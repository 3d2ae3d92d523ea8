"""A tiny real suite through the installed `mimo-bench` command, read back from a real MLflow store."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import optuna
import pytest
import torch
from mlflow import MlflowClient

from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.suite.toml import to_toml
from tests.helpers import nested_runs, run_cli

pytestmark = pytest.mark.slow

GLYPHS = {"name": "glyphs", "alphabets": 2, "characters": 3, "samples": 12, "image_size": 16, "trajectory_length": 16}


def every_strategy(tasks) -> list[dict]:
    """One configuration per registered strategy, drawn from its own search space."""
    entries = []
    for name in STRATEGIES.names():
        cls = STRATEGIES.get(name)
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
        entries.append({"name": name, **cls.search_space(trial, tasks)})
    return entries


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory) -> Path:
    tasks = PROBLEMS.get("glyphs")(**{k: v for k, v in GLYPHS.items() if k != "name"}).tasks
    suite = {
        "name": "e2e",
        "epochs": 2,
        "batch_size": 16,
        "seeds": [1],
        "problem": GLYPHS,
        "model": {"conv_channels": [4], "sequence_hidden": 8, "trunk": [16]},
        "strategies": every_strategy(tasks),
    }
    path = tmp_path_factory.mktemp("suite") / "e2e.toml"
    path.write_text(to_toml(suite))
    return path


def test_suite_is_tracked_per_contract_and_reproducible(suite_file, tracking_uri, cache_dir):
    first = run_cli(suite_file, tracking_uri, cache_dir, "--jobs", "2")  # the --force rerun below: --jobs 1
    assert first.returncode == 0, first.stderr
    for label in STRATEGIES.names():
        assert label in first.stdout  # the summary table has a row per strategy

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("e2e")
    parents = client.search_runs([experiment.experiment_id], "tags.kind = 'suite'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert "strategy" in parent.data.tags["mlflow.note.content"]  # the summary is the run's description
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"suite.toml", "report"}

    runs = nested_runs(client, experiment.experiment_id, parent.info.run_id)
    assert len(runs) == len(STRATEGIES.names())
    tasks = ("alphabet", "character", "slant")
    for run in runs:
        tags = run.data.tags
        assert run.info.status == "FINISHED"
        assert tags["strategy"] in STRATEGIES.names() and tags["seed"] == "1"
        assert tags["problem"] == "glyphs" and tags["suite"] == "e2e" and len(tags["run_key"]) == 16
        assert run.info.run_name == f"{tags['strategy']}/seed-{tags['seed']}"
        metrics = run.data.metrics
        for task in tasks:
            assert f"train/{task}/loss" in metrics and f"weight/{task}" in metrics
        for split in ("val", "test"):
            for metric in ("accuracy", "f1"):
                assert f"{split}/alphabet/{metric}" in metrics and f"{split}/character/{metric}" in metrics
            assert f"{split}/slant/mse" in metrics and f"{split}/slant/mae" in metrics
        history = client.get_metric_history(run.info.run_id, "train/slant/loss")
        assert [m.step for m in history] == [1, 2]  # one point per epoch, step = epoch
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"checkpoint.pt", "strategy.txt"} <= artifacts
    assert len({r.data.tags["run_key"] for r in runs}) == len(runs)

    checkpoint_path = client.download_artifacts(runs[0].info.run_id, "checkpoint.pt")
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert len(checkpoint["labels"]["character"]) == 6 and len(checkpoint["labels"]["alphabet"]) == 2
    assert "trunk.0.weight" in checkpoint["model"]

    again = run_cli(suite_file, tracking_uri, cache_dir)  # idempotent: nothing to do
    assert again.returncode == 0, again.stderr
    assert f"{len(runs)} done earlier, 0 run now" in again.stdout
    latest = client.search_runs([experiment.experiment_id], "tags.kind = 'suite'", order_by=["start_time DESC"])[0]
    assert nested_runs(client, experiment.experiment_id, latest.info.run_id) == []

    # another process, --jobs 1, same numbers: every third strategy here (all of them in-process on tabular below)
    third = suite_file.with_name("e2e-third.toml")
    entries = tomllib.loads(suite_file.read_text())
    third.write_text(to_toml({**entries, "strategies": entries["strategies"][::3]}))
    forced = run_cli(third, tracking_uri, cache_dir, "--force")
    assert forced.returncode == 0, forced.stderr
    latest = client.search_runs([experiment.experiment_id], "tags.kind = 'suite'", order_by=["start_time DESC"])[0]
    rerun = {
        r.data.tags["run_key"]: r.data.metrics
        for r in nested_runs(client, experiment.experiment_id, latest.info.run_id)
    }
    rerun_labels = {entry.get("label", entry["name"]) for entry in entries["strategies"][::3]}
    rerun_runs = [run for run in runs if run.data.tags["strategy"] in rerun_labels]
    assert len(rerun) == len(rerun_runs) == len(rerun_labels)
    for run in rerun_runs:
        before = {k: v for k, v in run.data.metrics.items() if k.startswith("test/")}
        after = {k: v for k, v in rerun[run.data.tags["run_key"]].items() if k.startswith("test/")}
        assert before == after, f"{run.info.run_name} is not reproducible"


def test_every_strategy_trains_tabular_reproducibly_with_finite_losses_and_logged_weights(tmp_path, tracking_uri):
    from benchmark.run.runner import SuiteRunner
    from benchmark.suite.schema import load_suite

    problem = {"name": "tabular", "samples": 300, "dim_a": 20, "dim_b": 10}
    tasks = PROBLEMS.get("tabular")(**{k: v for k, v in problem.items() if k != "name"}).tasks
    path = tmp_path / "tabular.toml"
    suite = {"name": "tabular-all", "epochs": 2, "batch_size": 32, "seeds": [0], "problem": problem}
    path.write_text(to_toml({**suite, "strategies": every_strategy(tasks)}))
    outcomes = SuiteRunner(load_suite(path, tracking_uri), show_progress=False).run()
    assert [o.status for o in outcomes] == ["FINISHED"] * len(STRATEGIES.names())
    again = SuiteRunner(load_suite(path, tracking_uri), show_progress=False, force=True).run()
    for outcome, rerun in zip(outcomes, again, strict=True):  # same seed, same numbers, for every strategy
        assert rerun.run_id != outcome.run_id and rerun.test_metrics == outcome.test_metrics, outcome.label
        assert rerun.val_metrics == outcome.val_metrics and outcome.test_metrics, outcome.label
    client = MlflowClient(tracking_uri)
    for outcome in outcomes:
        metrics = client.get_run(outcome.run_id).data.metrics
        for task in ("label", "price"):
            history = client.get_metric_history(outcome.run_id, f"weight/{task}")
            assert [m.step for m in history] == [1, 2]
            assert all(math.isfinite(m.value) and m.value >= 0 for m in history)
            assert math.isfinite(metrics[f"train/{task}/loss"])
