"""``[search] optimizer_space``: which training options a search samples, and drawing them for one trial.

``optimizer_space = { lr = [1e-4, 1e-2], warmup_epochs = [0, 3], schedule = ["constant", "cosine"] }``:
numbers as ``[low, high]`` (``lr`` on a log scale, integer options as integers), choices as a list.
Optuna names them ``optimizer.<key>``.  Every corner of the space (each number at its low and its
high, with every choice) must be a valid ``[optimizer]`` table, so no trial can draw an invalid one;
``search_lr = true`` is ``lr = [1e-4, 1e-2]``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from benchmark.api.errors import MimoBenchError, did_you_mean
from benchmark.suite.table import Table
from benchmark.suite.training import parse_optimizer

OPTIMIZER_PREFIX = "optimizer."  # Optuna names of the sampled training options
LR_RANGE = (1e-4, 1e-2)  # ``search_lr = true``
# key -> how it is sampled: "log" (float, log scale), "float", "int" or "choice"
SEARCHABLE = {
    "lr": "log",
    "weight_decay": "float",
    "momentum": "float",
    "gamma": "float",
    "clip_grad_norm": "float",
    "warmup_epochs": "int",
    "step_size": "int",
    "name": "choice",
    "schedule": "choice",
}
# options that apply to one choice only: dropped from the suite's table where a drawn choice excludes them
ONLY_FOR = {
    "momentum": ("name", "sgd"),
    "nesterov": ("name", "sgd"),
    "step_size": ("schedule", "step"),
    "gamma": ("schedule", "step"),
}


def parse_optimizer_space(
    path: Path, table: Any, search_lr: bool, optimizer: dict[str, Any], epochs: int
) -> dict[str, list]:
    """The validated space (key -> [low, high] or choices), ``search_lr`` folded in as the lr range."""
    space_table = Table(path, "search.optimizer_space", table)
    space = {key: _bounds(space_table, key) for key in space_table.table}
    if search_lr:
        if "lr" in space:
            raise space_table.error("search_lr = true samples lr already; keep one of the two", "lr")
        space["lr"] = list(LR_RANGE)
    corners = [bounds if SEARCHABLE[key] == "choice" else bounds[::-1] for key, bounds in space.items()]
    for corner in itertools.product(*corners):
        drawn = dict(zip(space, corner, strict=True))
        try:
            parse_optimizer(path, _merged(optimizer, drawn), epochs)
        except MimoBenchError as error:
            point = ", ".join(f"{k} = {v!r}" for k, v in drawn.items())
            reason = str(error).removeprefix(f"{path}: ")
            raise MimoBenchError(
                f"{path}: search.optimizer_space: at {point} the optimizer is invalid: {reason}"
            ) from None
    return space


def _bounds(space: Table, key: str) -> list:
    kind = SEARCHABLE.get(key)
    if kind is None:
        raise space.error(f"not searchable{did_you_mean(key, SEARCHABLE)}; searchable: {', '.join(SEARCHABLE)}", key)
    value = space.table[key]
    if kind == "choice":
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise space.error(f"expected a non-empty list of choices (strings), got {value!r}", key)
        return list(value)
    number = int if kind == "int" else (int, float)
    pair = isinstance(value, list) and len(value) == 2
    if not (pair and all(isinstance(v, number) and not isinstance(v, bool) for v in value) and value[0] <= value[1]):
        what = "integers" if kind == "int" else "numbers"
        raise space.error(f"expected [low, high], two {what} with low <= high, got {value!r}", key)
    if kind == "log" and value[0] <= 0:
        raise space.error(f"is sampled on a log scale: low must be > 0, got {value[0]}", key)
    return list(value)


def sample_optimizer(trial: Any, path: Path, optimizer: dict[str, Any], space: dict[str, list], epochs: int) -> dict:
    """The suite's resolved ``[optimizer]`` with each key of ``space`` drawn from ``trial``, resolved again."""
    drawn: dict[str, Any] = {}
    for key, bounds in space.items():
        name, kind = OPTIMIZER_PREFIX + key, SEARCHABLE[key]
        if kind == "choice":
            drawn[key] = trial.suggest_categorical(name, bounds)
        elif kind == "int":
            drawn[key] = trial.suggest_int(name, *bounds)
        else:
            drawn[key] = trial.suggest_float(name, *bounds, log=kind == "log")
    return parse_optimizer(path, _merged(optimizer, drawn), epochs)


def _merged(optimizer: dict[str, Any], drawn: dict[str, Any]) -> dict[str, Any]:
    merged = {**optimizer, **drawn}
    return {
        key: value
        for key, value in merged.items()
        if key in drawn or key not in ONLY_FOR or merged[ONLY_FOR[key][0]] == ONLY_FOR[key][1]
    }
