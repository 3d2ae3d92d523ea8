"""Gradient accumulation over micro-batches, early stopping on val, and resuming a run that uses every option."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.api.problem import ProblemData
from benchmark.api.registry import STRATEGIES
from benchmark.train import trainer as trainer_module
from benchmark.train.evaluation import selection_score
from benchmark.train.single_task import SingleTaskTrainers
from benchmark.train.trainer import TrainConfig, Trainer
from tests.unit.small_net import INPUTS, TASKS
from tests.unit.test_diagnostics import data, split
from tests.unit.test_training_options import MODEL, trainer

# -- accumulate ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("train_samples", [96, 88], ids=["full-steps", "short-last-step"])
def test_accumulating_two_batches_is_one_batch_twice_as_large(optimizer, train_samples):
    problem = ProblemData(INPUTS, TASKS, split(train_samples, 0), split(32, 1), split(32, 2))
    lr = 1e-4 if optimizer == "sgd" else 1e-2
    accumulated = trainer(problem=problem, batch_size=16, accumulate=2, optimizer=optimizer, lr=lr)
    doubled = trainer(problem=problem, batch_size=32, optimizer=optimizer, lr=lr)
    single = trainer(problem=problem, batch_size=16, optimizer=optimizer, lr=lr)
    for _ in range(3):
        metrics, reference = accumulated.train_epoch(), doubled.train_epoch()
        single.train_epoch()
        for a, b in zip(accumulated.model.parameters(), doubled.model.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        for task in ("kind", "size", "shade"):
            assert metrics[f"val/{task}/loss"] == pytest.approx(reference[f"val/{task}/loss"], rel=1e-5)
    assert accumulated.step_count == doubled.step_count == 3 * math.ceil(train_samples / 32)
    differs = [
        (a - b).abs().max() for a, b in zip(accumulated.model.parameters(), single.model.parameters(), strict=True)
    ]
    assert max(differs) > 1e-3  # the same batch size without accumulation is another run


def test_a_gradient_strategy_acts_on_each_micro_batch():
    """PCGrad with accumulate=2 steps on the mean of two per-micro-batch projected gradients."""
    run = trainer("pcgrad", accumulate=2)
    calls: list[int] = []
    original = run.strategy.backward
    run.strategy.backward = lambda ctx: (calls.append(ctx.step), original(ctx))[1]
    run.train_epoch()
    assert calls == [0, 0, 1, 1, 2, 2]  # one backward per micro-batch, each seeing its optimizer step


def test_alternating_accumulate_under_suite_accumulation_is_it_on_batches_twice_as_large():
    """The strategy's own accumulate (one task per step, steps summed over a cycle) with accumulate=2 trains
    each step's task on two batches: as with batches twice as large."""

    def run(batch_size: int, accumulate: int) -> Trainer:
        alternating = STRATEGIES.get("alternating")
        config = TrainConfig(2, batch_size, 1e-2, seed=3, accumulate=accumulate)
        return Trainer(data(), MODEL, lambda tasks: alternating(tasks, accumulate=True), config)

    accumulated, doubled = run(16, 2), run(32, 1)
    for _ in range(2):
        accumulated.train_epoch(), doubled.train_epoch()
    for a, b in zip(accumulated.model.parameters(), doubled.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# -- [early_stopping] -----------------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_epochs_without_improvement_and_never_reads_test(monkeypatch):
    epochs = 20
    full = trainer(epochs=epochs)
    for _ in range(epochs):
        full.train_epoch()
    scores = [selection_score(h, full.history[0], full.tasks) for h in full.history]
    best, waited, expected = math.inf, 0, epochs
    for epoch, score in enumerate(scores, 1):  # the rule, written out again
        best, waited = (score, 0) if score < best else (best, waited + 1)
        if waited == 3:
            expected = epoch
            break
    assert expected < epochs, "the case at hand: the run stalls before its last epoch"

    evaluated: list[str] = []
    real = trainer_module.evaluate
    monkeypatch.setattr(
        trainer_module, "evaluate", lambda m, s, t, prefix, b: (evaluated.append(prefix), real(m, s, t, prefix, b))[1]
    )
    stopping = trainer(epochs=epochs, patience=3)
    while stopping.epoch < epochs and not stopping.stopped:
        stopping.train_epoch()
    assert stopping.epoch == expected and stopping.stopping.stopped_epoch == expected
    assert stopping.history == full.history[:expected]
    assert evaluated == ["train"] + ["val"] * expected  # L_t(0) on train once, then early stopping saw val only
    stopping.test()
    assert evaluated[-1] == "test" and stopping.selection_metrics() == {
        "best_epoch": expected - 3,
        "stopped_epoch": expected,
    }


def test_min_delta_counts_only_improvements_larger_than_it():
    run = trainer(epochs=10, patience=2, min_delta=10.0)  # the score starts at 1: nothing improves by 10
    while run.epoch < 10 and not run.stopped:
        run.train_epoch()
    assert run.epoch == 3  # epoch 1 improves on nothing; 2 and 3 do not improve on it
    assert trainer(epochs=10).selection_metrics() == {"best_epoch": 0}  # off: no stopped_epoch


def test_each_single_task_net_stops_on_its_own():
    config = TrainConfig(12, 16, 3e-2, seed=3, patience=2)
    run = SingleTaskTrainers(data(), MODEL, STRATEGIES.get("single"), config)
    while run.epoch < 12 and not run.stopped:
        run.train_epoch()
    stopped = {name: t.epoch for name, t in run.trainers.items()}
    assert all(t.stopped or t.epoch == 12 for t in run.trainers.values())
    assert len(set(stopped.values())) > 1, stopped  # the case at hand: they stop at different epochs
    selection = run.selection_metrics()
    assert selection["stopped_epoch"] == max(stopped.values())
    assert all(selection[f"stopped_epoch/{n}"] == e for n, e in stopped.items())


# -- resume ----------------------------------------------------------------------------------------------


def test_resume_is_bit_identical_with_schedule_accumulation_clipping_and_early_stopping(tmp_path):
    settings = {
        "epochs": 12,
        "schedule": "cosine",
        "warmup_epochs": 2,
        "accumulate": 2,
        "clip_grad_norm": 2.0,
        "head_lr": {"size": 1e-3},
        "patience": 2,
        "min_delta": 0.02,
    }
    straight = trainer("uncertainty", **settings)
    while straight.epoch < 12 and not straight.stopped:
        straight.train_epoch()
    assert 3 < straight.epoch < 12  # the case at hand: it stops early, after the resume point

    interrupted = trainer("uncertainty", **settings)
    for _ in range(3):
        interrupted.train_epoch()
    torch.save(interrupted.state_dict(), tmp_path / "state.pt")
    torch.rand(100)  # whatever the process did in between
    resumed = trainer("uncertainty", **settings)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.optimizer.param_groups[0]["lr"] == interrupted.optimizer.param_groups[0]["lr"]
    while resumed.epoch < 12 and not resumed.stopped:
        resumed.train_epoch()
    assert resumed.history == straight.history and resumed.epoch == straight.epoch
    assert resumed.test() == straight.test()
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.parameters(), straight.model.parameters(), strict=True))
    after = trainer("uncertainty", **settings)
    after.load_state_dict(straight.state_dict())
    assert after.stopped  # a run resumed after it stopped does not train on


# -- through the runner ---------------------------------------------------------------------------------


def test_a_suite_run_logs_the_options_the_schedule_and_the_stopped_epoch(tmp_path, tracking_uri):
    from mlflow import MlflowClient

    from benchmark.run.runner import SuiteRunner
    from benchmark.suite.schema import load_suite
    from benchmark.suite.toml import to_toml

    suite = {
        "name": "options",
        "epochs": 6,
        "batch_size": 32,
        "accumulate": 2,
        "problem": {"name": "tabular", "samples": 150, "dim_a": 8, "dim_b": 4, "classes": 3},
        "model": {"vector_hidden": [8], "trunk": [8]},
        "optimizer": {"name": "sgd", "lr": 1e-4, "momentum": 0.9, "schedule": "cosine", "clip_grad_norm": 1.0},
        "early_stopping": {"patience": 2, "min_delta": 10.0},  # nothing improves by 10: stops after epoch 3
        "strategies": [{"name": "sum"}],
    }
    path = tmp_path / "options.toml"
    path.write_text(to_toml(suite))
    (outcome,) = SuiteRunner(load_suite(path, tracking_uri), show_progress=False).run()
    assert outcome.status == "FINISHED"
    client = MlflowClient(tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.data.metrics["stopped_epoch"] == 3
    assert len(client.get_metric_history(outcome.run_id, "train/label/loss")) == 3
    assert run.data.params["accumulate"] == "2"
    params = run.data.params
    assert params["optimizer.schedule"] == "cosine" and params["optimizer.momentum"] == "0.9"
    assert params["early_stopping.patience"] == "2" and params["optimizer.clip_grad_norm"] == "1.0"
    lrs = [m.value for m in sorted(client.get_metric_history(outcome.run_id, "optimizer/lr"), key=lambda m: m.step)]
    assert lrs == pytest.approx([1e-4 * (1 + math.cos(math.pi * j / 6)) / 2 for j in range(3)], rel=1e-12)
