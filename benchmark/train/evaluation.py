"""Scoring a net on a split: every task's metrics, and the val selection score that picks a run's best epoch."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchmark.api.problem import Split, TaskSpec
from benchmark.train.metrics import task_metrics
from benchmark.train.model import MimoNet


@torch.no_grad()
def evaluate(model: MimoNet, split: Split, tasks: Sequence[TaskSpec], prefix: str, batch_size: int) -> dict[str, float]:
    """Every task's metrics on a split as ``<prefix>/<task>/<metric>``, computed without autograd."""
    model.eval()
    outputs: dict[str, list[torch.Tensor]] = {task.name: [] for task in tasks}
    for start in range(0, len(split), batch_size):
        batch = {k: v[start : start + batch_size] for k, v in split.inputs.items()}
        for name, output in model(batch).items():
            outputs[name].append(output)
    model.train()
    values = {}
    for task in tasks:
        for metric, value in task_metrics(task, torch.cat(outputs[task.name]), split.targets[task.name]).items():
            values[f"{prefix}/{task.name}/{metric}"] = float(value)
    return values


def selection_score(val: dict[str, float], first_val: dict[str, float], tasks: Sequence[TaskSpec]) -> float:
    """Mean over tasks of val loss relative to its first-epoch value (lower is better)."""
    return sum(val[f"val/{t.name}/loss"] / max(first_val[f"val/{t.name}/loss"], 1e-12) for t in tasks) / len(tasks)
