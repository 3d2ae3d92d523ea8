"""The shipped real-data suites (GradNorm toy, MultiMNIST, penguins), shrunk, through the `mimo-bench run` command."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from mlflow import MlflowClient

from benchmark.cli import main
from benchmark.suite.toml import to_toml
from tests.helpers import nested_runs

pytestmark = pytest.mark.slow

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
# suite file -> (problem options that shrink it, the strategies kept, its tasks)
SHRUNK = {
    "paper_gradnorm_toy": (
        {"input_dim": 12, "output_dim": 5, "train_samples": 48, "val_samples": 16, "test_samples": 16},
        ["sum", "gradnorm"],
        ["task0", "task1"],
    ),
    "multi_mnist": (
        {"train_pairs": 48, "val_pairs": 24, "test_pairs": 24},
        ["sum", "static", "single"],
        ["left", "right"],
    ),
    "penguins": ({}, ["static", "uncertainty"], ["species", "sex", "body_mass"]),
}


@pytest.mark.parametrize("stem", list(SHRUNK))
def test_shipped_real_data_suite_runs_end_to_end(stem, tmp_path, tracking_uri, capsys):
    options, kept, tasks = SHRUNK[stem]
    suite = tomllib.loads((EXPERIMENTS / f"{stem}.toml").read_text())
    suite.update(epochs=1, seeds=[0], batch_size=16)
    suite["problem"].update(options)
    suite["strategies"] = [entry for entry in suite["strategies"] if entry["name"] in kept]
    path = tmp_path / f"{stem}.toml"
    path.write_text(to_toml(suite))

    assert main(["run", str(path), "--tracking-uri", tracking_uri, "--no-progress"]) == 0, capsys.readouterr().err

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(suite["name"])
    runs = nested_runs(client, experiment.experiment_id)
    assert sorted(run.data.tags["strategy"] for run in runs) == sorted(kept)
    for run in runs:
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        for task in tasks:
            assert metrics[f"train/{task}/initial_loss"] > 0
            assert [m.step for m in client.get_metric_history(run.info.run_id, f"train/{task}/initial_loss")] == [1]
            assert any(key.startswith(f"test/{task}/") for key in metrics)
    parent = client.search_runs([experiment.experiment_id], "tags.kind = 'suite'")[0]
    report = {artifact.path for artifact in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/weights.png", "report/loss_ratios.png"} <= report
