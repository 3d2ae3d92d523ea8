"""The `single` pseudo-strategy: one net per task, each trained on its own loss alone."""

from __future__ import annotations

import dataclasses

import torch
from mlflow import MlflowClient

from benchmark.api.problem import ProblemData, Split
from benchmark.api.registry import STRATEGIES
from benchmark.cli import main
from benchmark.suite.schema import load_suite
from benchmark.suite.toml import to_toml
from benchmark.tracking.runlog import without_float32_noise
from benchmark.train.single_task import SingleTaskTrainers, restrict
from benchmark.train.trainer import TrainConfig, Trainer
from tests.unit.test_diagnostics import MODEL, data

CONFIG = TrainConfig(3, 16, 1e-2, seed=5)


def single(problem: ProblemData) -> SingleTaskTrainers:
    return SingleTaskTrainers(problem, MODEL, STRATEGIES.get("single"), CONFIG)


def trained(run: SingleTaskTrainers | Trainer, epochs: int = 3) -> tuple[list[dict[str, float]], dict[str, float]]:
    return [run.train_epoch() for _ in range(epochs)], run.test()


def task_values(values: dict[str, float], task: str) -> dict[str, float]:
    return {k: v for k, v in values.items() if f"/{task}/" in k or k.endswith(f"/{task}")}


def with_shuffled_size_targets(problem: ProblemData) -> ProblemData:
    """The same data with the ``size`` task's training targets permuted (its signal destroyed)."""
    targets = dict(problem.train.targets)
    targets["size"] = targets["size"][torch.randperm(len(targets["size"]), generator=torch.Generator().manual_seed(9))]
    return dataclasses.replace(problem, train=Split(problem.train.inputs, targets))


def test_each_tasks_net_learns_from_its_own_loss_only():
    clean, corrupted = data(), with_shuffled_size_targets(data())
    history, test = trained(single(clean))
    corrupted_history, corrupted_test = trained(single(corrupted))
    assert all(epoch[f"weight/{t}"] == 1.0 for epoch in history for t in ("kind", "size", "shade"))
    for task in ("kind", "shade"):  # untouched by the size targets, epoch by epoch, bit for bit
        assert task_values(test, task) == task_values(corrupted_test, task)
        for epoch, corrupted_epoch in zip(history, corrupted_history, strict=True):
            assert task_values(epoch, task) == task_values(corrupted_epoch, task)
    assert test["test/size/mae"] != corrupted_test["test/size/mae"]

    sum_test = trained(Trainer(clean, MODEL, STRATEGIES.get("sum"), CONFIG))[1]
    sum_corrupted = trained(Trainer(corrupted, MODEL, STRATEGIES.get("sum"), CONFIG))[1]
    assert task_values(sum_test, "kind") != task_values(sum_corrupted, "kind")  # one shared net: it leaks

    alone = trained(Trainer(restrict(clean, clean.tasks[0]), MODEL, STRATEGIES.get("single"), CONFIG))[1]
    assert alone == task_values(test, "kind")  # exactly the net trained on that task alone (dropout included)


def test_each_net_selects_its_own_best_epoch():
    run = single(data())
    history, _ = trained(run)
    selection = run.selection_metrics()
    for name, trainer in run.trainers.items():
        losses = [epoch[f"val/{name}/loss"] for epoch in history]
        assert selection[f"best_epoch/{name}"] == trainer.best_epoch == losses.index(min(losses)) + 1
        best = {k: v for k, v in history[trainer.best_epoch - 1].items() if k.startswith(f"val/{name}/")}
        assert task_values(run.best_val_metrics(), name) == best
    assert selection["best_epoch"] == max(t.best_epoch for t in run.trainers.values())


def test_resume_from_a_saved_state_gives_identical_numbers(tmp_path):
    straight = single(data())
    history, test = trained(straight)

    interrupted = single(data())
    first_epoch = interrupted.train_epoch()
    torch.save(interrupted.state_dict(), tmp_path / "state.pt")
    torch.rand(100)  # whatever the process did in between
    resumed = single(data())
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.epoch == 1
    resumed_history, resumed_test = trained(resumed, epochs=2)
    assert [first_epoch, *resumed_history] == history
    assert resumed_test == test and resumed.selection_metrics() == straight.selection_metrics()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_a_single_suite_run_logs_every_tasks_metrics_in_one_run_under_the_parent(tmp_path, tracking_uri):
    from benchmark.run.runner import SuiteRunner

    problem = {"name": "tabular", "samples": 300, "dim_a": 20, "dim_b": 10}
    suite = {"name": "single", "epochs": 3, "batch_size": 32, "seeds": [0], "problem": problem}
    path = tmp_path / "single.toml"
    path.write_text(to_toml({**suite, "strategies": [{"name": "single"}]}))
    (outcome,) = SuiteRunner(load_suite(path, tracking_uri), show_progress=False).run()
    assert outcome.status == "FINISHED"

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("single")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.kind = 'suite'")
    (run,) = client.search_runs([experiment.experiment_id], "tags.run_key != ''")
    assert run.info.run_id == outcome.run_id and run.info.run_name == "single/seed-0"
    assert run.data.tags["strategy"] == "single" and run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    metrics = run.data.metrics
    for name in ("test/label/accuracy", "test/label/f1", "test/price/mse", "test/price/mae"):
        assert name in metrics and without_float32_noise(outcome.test_metrics[name]) == metrics[name]
    assert metrics["best_epoch"] == max(metrics["best_epoch/label"], metrics["best_epoch/price"])
    for task in ("label", "price"):
        assert [m.value for m in client.get_metric_history(run.info.run_id, f"weight/{task}")] == [1.0] * 3
        best = int(metrics[f"best_epoch/{task}"])
        for key in (f"val/{task}/loss", f"val/{task}/accuracy" if task == "label" else f"val/{task}/mae"):
            history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}
            assert without_float32_noise(outcome.val_metrics[key]) == history[best]
    saved = client.download_artifacts(run.info.run_id, "checkpoint.pt", str(tmp_path))
    keys = set(torch.load(saved, weights_only=True)["model"])
    assert {"label.trunk.0.weight", "price.trunk.0.weight", "label.heads.label.net.0.weight"} <= keys
    assert not any(".heads.price." in key for key in keys if key.startswith("label."))  # one head per net


def test_the_strategies_command_lists_single(capsys):
    assert main(["strategies"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line and not line[0].isspace()}
    assert "single" in listed and "Single-task baseline" in listed["single"]
    assert STRATEGIES.get("single").separate_nets and not STRATEGIES.get("sum").separate_nets
