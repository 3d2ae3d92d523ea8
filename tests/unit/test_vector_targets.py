"""Vector-valued regression targets (`TaskSpec.dim`) and each run's initial losses L_t(0)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.api.problem import InputSpec, ProblemData, Split, TaskSpec
from benchmark.api.registry import STRATEGIES
from benchmark.train.evaluation import evaluate
from benchmark.train.metrics import task_loss, task_metrics
from benchmark.train.model import MimoNet, ModelConfig
from benchmark.train.trainer import TrainConfig, Trainer

INPUTS = (InputSpec("x", "vector", (5,)),)
TASKS = (
    TaskSpec("field", "regression", output_scale=10.0, dim=4),
    TaskSpec("level", "regression", output_scale=3.0),
    TaskSpec("kind", "classification", num_classes=3),
)
MODEL = ModelConfig(vector_hidden=(8,), trunk=(8,))


def split(samples: int, seed: int) -> Split:
    x = torch.randn(samples, 5, generator=torch.Generator().manual_seed(seed))
    targets = {
        "field": 10 * torch.tanh(x[:, :4] * 3),
        "level": 3 * x[:, 4],
        "kind": x[:, 0].gt(0).long() + x[:, 1].gt(0),
    }
    return Split({"x": x}, targets)


def data() -> ProblemData:
    return ProblemData(INPUTS, TASKS, split(64, 0), split(16, 1), split(16, 2))


@pytest.mark.parametrize(
    ("kind", "dim", "classes"), [("regression", 0, None), ("regression", 2.0, None), ("classification", 2, 3)]
)
def test_a_bad_dim_is_refused(kind, dim, classes):
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        TaskSpec("t", kind, num_classes=classes, dim=dim)


def test_vector_head_outputs_dim_values_scaled_and_scalar_heads_keep_the_old_path():
    torch.manual_seed(0)
    model = MimoNet(INPUTS, TASKS, MODEL)
    features = torch.randn(6, 8)
    field, level = model.heads["field"], model.heads["level"]
    assert field(features).shape == (6, 4) and level(features).shape == (6,)
    assert torch.equal(field(features), field.net(features) * 10.0)
    assert torch.equal(level(features), level.net(features).squeeze(-1) * 3.0)  # the code before `dim`, exactly


def test_vector_loss_and_metrics_average_over_every_coordinate():
    task = TASKS[0]
    output, target = torch.randn(7, 4), torch.randn(7, 4)
    assert torch.equal(task_loss(task, output, target), F.mse_loss(output, target))
    values = task_metrics(task, output, target)
    assert torch.allclose(values["mse"], ((output - target) ** 2).mean())
    assert torch.allclose(values["mae"], (output - target).abs().mean())
    assert torch.allclose(values["loss"], values["mse"])


def test_a_vector_target_trains_and_every_task_logs_its_initial_loss_once():
    trainer = Trainer(data(), MODEL, STRATEGIES.get("sum"), TrainConfig(2, 16, 1e-2, seed=4))
    untrained = evaluate(trainer.model, trainer.train_split, TASKS, "train", 64)
    first, second = trainer.train_epoch(), trainer.train_epoch()
    for task in TASKS:
        assert first[f"train/{task.name}/initial_loss"] == untrained[f"train/{task.name}/loss"]
        assert f"train/{task.name}/initial_loss" not in second  # logged once per run
    assert second["train/field/loss"] < first["train/field/initial_loss"]
    assert trainer.test()["test/field/mae"] > 0


def test_initial_losses_leave_training_unchanged():
    """Computing L_t(0) draws no random numbers and changes no state: the same run without it is identical."""
    runs = []
    for measure in (True, False):
        trainer = Trainer(data(), ModelConfig(vector_hidden=(8,), trunk=(8,), dropout=0.2), STRATEGIES.get("sum"),
                          TrainConfig(1, 16, 1e-2, seed=4))  # fmt: skip
        if not measure:
            trainer.initial_losses = dict  # type: ignore[method-assign]
        metrics = trainer.train_epoch()
        runs.append({k: v for k, v in metrics.items() if "initial_loss" not in k})
    assert runs[0] == runs[1]
