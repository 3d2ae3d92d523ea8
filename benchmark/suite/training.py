"""A suite's training options: the ``[optimizer]`` table, ``accumulate`` and ``[early_stopping]``, checked without torch.

Each returns its resolved form (every default filled in), which is logged and part of every run's key.
Keys that apply to one choice only (``momentum`` to ``sgd``, ``step_size`` to ``schedule = "step"``)
are refused for the others and appear in the resolved table only where they apply; ``trunk_lr``
appears only when set (absent: the trunk follows ``lr``, also when a search samples it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.api.errors import MimoBenchError, did_you_mean
from benchmark.suite.table import REQUIRED, Table

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step")
OPTIMIZER_KEYS = [
    "name",
    "lr",
    "weight_decay",
    "momentum",
    "nesterov",
    "schedule",
    "warmup_epochs",
    "step_size",
    "gamma",
    "clip_grad_norm",
    "head_lr",
    "trunk_lr",
]
EARLY_STOPPING_KEYS = ["patience", "min_delta"]


def parse_optimizer(path: Path, table: Any, epochs: int) -> dict[str, Any]:
    """The resolved ``[optimizer]`` table of a run of ``epochs`` epochs; ``head_lr``'s task names are checked
    by `check_head_lr` once the problem's tasks are known."""
    optimizer = Table(path, "optimizer", table)
    name = optimizer.choice("name", "adam", OPTIMIZERS)
    resolved: dict[str, Any] = {
        "name": name,
        "lr": optimizer.number("lr", 1e-3, 0.0, inclusive=False),
        "weight_decay": optimizer.number("weight_decay", 0.0, 0.0, inclusive=True),
    }
    if name == "sgd":
        momentum = optimizer.number("momentum", 0.0, 0.0, inclusive=True)
        if momentum >= 1:
            raise optimizer.error(f"must be in [0, 1), got {momentum}", "momentum")
        nesterov = optimizer.get("nesterov", bool, False, "true or false")
        if nesterov and momentum == 0:
            raise optimizer.error("nesterov = true needs momentum > 0 (as torch.optim.SGD does)", "nesterov")
        resolved.update(momentum=momentum, nesterov=nesterov)
    else:
        _only_for(optimizer, ("momentum", "nesterov"), 'name = "sgd"', f'name = "{name}"')
    schedule = optimizer.choice("schedule", "constant", SCHEDULES)
    warmup = optimizer.get("warmup_epochs", int, 0, "an integer >= 0 (epochs of linear warmup)")
    if not 0 <= warmup < epochs:
        raise optimizer.error(
            f"must be an integer in [0, epochs - 1] = [0, {epochs - 1}], got {warmup}", "warmup_epochs"
        )
    resolved.update(schedule=schedule, warmup_epochs=warmup)
    if schedule == "step":
        resolved["step_size"] = optimizer.get("step_size", int, REQUIRED, "a positive integer (epochs per decay)")
        if resolved["step_size"] < 1:
            raise optimizer.error(f"must be a positive integer, got {resolved['step_size']}", "step_size")
        resolved["gamma"] = optimizer.number("gamma", 0.1, 0.0, inclusive=False)
        if resolved["gamma"] > 1:
            raise optimizer.error(f"must be in (0, 1] (the lr is multiplied by it), got {resolved['gamma']}", "gamma")
    else:
        _only_for(optimizer, ("step_size", "gamma"), 'schedule = "step"', f'schedule = "{schedule}"')
    resolved["clip_grad_norm"] = optimizer.number("clip_grad_norm", 0.0, 0.0, inclusive=True)
    heads = Table(path, "optimizer.head_lr", optimizer.get("head_lr", dict, {}, "a table of task = learning rate"))
    resolved["head_lr"] = {task: heads.number(task, REQUIRED, 0.0, inclusive=False) for task in heads.table}
    if "trunk_lr" in optimizer.table:
        resolved["trunk_lr"] = optimizer.number("trunk_lr", REQUIRED, 0.0, inclusive=False)
    optimizer.check_no_rest(OPTIMIZER_KEYS)
    return resolved


def _only_for(table: Table, keys: tuple[str, ...], applies: str, given: str) -> None:
    for key in keys:
        if key in table.table:
            raise table.error(f"applies to {applies} only, not {given}; remove it", key)


def check_head_lr(path: Path, optimizer: dict[str, Any], task_names: tuple[str, ...]) -> None:
    """Every ``head_lr`` key is one of the problem's tasks."""
    for task in optimizer["head_lr"]:
        if task not in task_names:
            raise MimoBenchError(
                f"{path}: optimizer.head_lr.{task}: unknown task{did_you_mean(task, task_names)}; "
                f"tasks: {', '.join(task_names)}"
            )


def parse_accumulate(top: Table) -> int:
    """Batches per optimizer step (top-level ``accumulate``, default 1)."""
    return top.positive_int("accumulate", 1)


def parse_early_stopping(path: Path, table: Any) -> dict[str, Any]:
    """The resolved ``[early_stopping]`` table: ``patience`` 0 (the default) is off."""
    stopping = Table(path, "early_stopping", table)
    patience = stopping.get("patience", int, 0, "an integer >= 0 (0: no early stopping)")
    if patience < 0:
        raise stopping.error(f"must be an integer >= 0 (0: no early stopping), got {patience}", "patience")
    min_delta = stopping.number("min_delta", 0.0, 0.0, inclusive=True)
    if min_delta and not patience:
        raise stopping.error("needs patience >= 1 (without it nothing stops early)", "min_delta")
    stopping.check_no_rest(EARLY_STOPPING_KEYS)
    return {"patience": patience, "min_delta": min_delta}
