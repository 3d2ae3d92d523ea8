"""Validation of plugin options (problems and strategies), with one wording for every bad value.

Each check takes the ``owner`` that the message starts with (``"strategy 'static'"``), the option's
name and the value, and returns the value normalised or raises a `MimoBenchError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from benchmark.api.errors import MimoBenchError


def option_error(owner: str, option: str, requirement: str, value: object) -> MimoBenchError:
    return MimoBenchError(f"{owner}: {option} must be {requirement}, got {value!r}")


def is_number(value: object) -> bool:
    """A finite int or float (a bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def int_option(owner: str, option: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or (maximum and value > maximum):
        requirement = f"an integer in [{minimum}, {maximum}]" if maximum else f"an integer >= {minimum}"
        raise option_error(owner, option, requirement, value)
    return value


def float_option(owner: str, option: str, value: object, requirement: str, valid: Callable[[float], bool]) -> float:
    if not is_number(value) or not valid(float(value)):
        raise option_error(owner, option, requirement, value)
    return float(value)


def choice_option(owner: str, option: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise option_error(owner, option, f"one of {list(allowed)}", value)
    return value


def bool_option(owner: str, option: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise option_error(owner, option, "true or false", value)
    return value


def task_table(
    owner: str, option: str, value: object, task_names: Sequence[str], minimum: float | None = 0.0
) -> dict[str, float]:
    """A table keyed by exactly the task names, of finite numbers (each >= ``minimum`` unless None)."""
    if not isinstance(value, Mapping):
        raise option_error(owner, option, "a table keyed by task name", value)
    unknown = sorted(set(value) - set(task_names))
    missing = sorted(set(task_names) - set(value))
    if unknown:
        raise MimoBenchError(f"{owner}: {option} names unknown task(s) {unknown}; tasks are {list(task_names)}")
    if missing:
        raise MimoBenchError(f"{owner}: {option} is missing task(s) {missing}; tasks are {list(task_names)}")
    for task, number in value.items():
        if not is_number(number):
            raise option_error(owner, f"{option}.{task}", "a finite number", number)
        if minimum is not None and number < minimum:
            raise option_error(owner, f"{option}.{task}", f">= {minimum:g}", number)
    return {name: float(value[name]) for name in task_names}


def task_weights(owner: str, option: str, value: object, task_names: Sequence[str]) -> dict[str, float]:
    """Non-negative weights keyed by task name, at least one of them positive."""
    weights = task_table(owner, option, value, task_names)
    if not any(weights.values()):
        raise MimoBenchError(f"{owner}: {option} are all zero: at least one task needs a positive weight")
    return weights
