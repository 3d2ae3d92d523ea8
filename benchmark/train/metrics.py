"""Per-task losses and metrics (torchmetrics), named as they are logged.

torchmetrics is imported at the first evaluation, not with this module: it pulls in torchvision and scipy
(about 3 s), which a process that only plans, skips or reports never needs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.api.problem import TaskSpec


def task_loss(task: TaskSpec, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The task's training loss: cross-entropy for classification, MSE for regression (the mean over every
    coordinate of a vector target)."""
    if task.kind == "classification":
        return F.cross_entropy(output, target)
    return F.mse_loss(output, target)


def task_metrics(task: TaskSpec, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The task's metrics (see `TaskSpec.metrics`) plus its loss, as 0-d tensors; a vector target's MSE and MAE
    average over all its coordinates."""
    from torchmetrics.functional import mean_absolute_error, mean_squared_error
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    values = {"loss": task_loss(task, output, target)}
    if task.kind == "classification":
        values["accuracy"] = multiclass_accuracy(output, target, num_classes=task.num_classes, average="micro")
        values["f1"] = multiclass_f1_score(output, target, num_classes=task.num_classes, average="macro")
    else:
        values["mse"] = mean_squared_error(output, target)
        values["mae"] = mean_absolute_error(output, target)
    return values
