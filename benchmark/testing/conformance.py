"""`check_strategy`: every rule of the strategy contract, checked on a plugin through the real trainer."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import TaskSpec
from benchmark.api.strategy import LossWeighting, Strategy
from benchmark.testing.failure import fail
from benchmark.testing.hooks import drive, tiny_data

SEARCH_TRIALS = 5
# a value that no option accepts: not a number, a name or a flag, and a table keyed by no task
NOT_AN_OPTION = {"no such task": "not a value"}


def check_strategy(cls: type[Strategy], **options: Any) -> None:
    """Check that ``cls``, built with ``options`` (its constructor keywords), keeps the strategy contract.

    Raises a `ConformanceError` (an ``AssertionError``) naming the broken rule.  Checked: the declaration
    (``name``, a one-line docstring, ``combine`` or ``backward`` overridden); each keyword stored as an
    attribute of the same name and shown by ``repr``; ``config()`` rebuilds the same instance; every
    learnable parameter in `parameter_groups`, at ``lr`` if it has one; a bad value of each option and an
    empty task list raise `MimoBenchError`; two epochs of the real trainer on a tiny problem, on cpu and
    on cuda when available (finite shared gradients, one finite 0-d weight per task each step, every hook
    called in the trainer's order with real epoch values, ``epoch_metrics`` plain floats, the state moved
    by ``.to(device)``); the state through ``torch.save`` to a file, ``torch.load(weights_only=True)`` and
    ``load_state_dict`` into a fresh instance; ``search_space`` with real Optuna trials builds instances.
    """
    check_declaration(cls)
    tasks = check_tasks()
    strategy = construct(cls, tasks, options, "constructs")
    check_configuration(cls, strategy, tasks)
    check_bad_options(cls, tasks, options)
    for device in ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]:
        trained = drive(cls, options, device)
        if device == "cpu":
            check_state_round_trip(cls, trained, tasks, options)
    check_search_space(cls, tasks, options)


def check_tasks() -> tuple[TaskSpec, ...]:
    """The tasks `check_strategy` builds strategies for: ``label`` (classification, 3 classes) and ``price``
    (regression, values about 100), for options keyed by task name."""
    return tiny_data().tasks


def construct(cls: type[Strategy], tasks: Sequence[TaskSpec], options: dict[str, Any], rule: str) -> Strategy:
    try:
        return cls(tasks, **options)
    except Exception as error:
        raise fail(cls, rule, f"{cls.__name__}(tasks, **{options!r}) raised {type(error).__name__}: {error}") from error


def check_declaration(cls: type) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise fail(cls, "is a Strategy", "subclass benchmark.api.LossWeighting or benchmark.api.GradientStrategy")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name.isidentifier():
        raise fail(cls, "declares a name", "set the class attribute name = '<module name>'")
    if not cls.summary():
        raise fail(cls, "has a one-line docstring", "`mimo-bench strategies` shows its first line")
    reserved = sorted({"name", "label"} & set(cls.options()))
    if reserved:
        raise fail(
            cls, "options a suite can set", f"{reserved}: a suite's strategy table uses these keys itself; rename"
        )
    hook, base = ("combine", LossWeighting) if issubclass(cls, LossWeighting) else ("backward", Strategy)
    if getattr(cls, hook) is getattr(base, hook):
        raise fail(cls, f"implements {hook}", f"a {cls.kind} strategy overrides {hook}(ctx)")


def check_configuration(cls: type[Strategy], strategy: Strategy, tasks: Sequence[TaskSpec]) -> None:
    missing = [option for option in cls.options() if not hasattr(strategy, option)]
    if missing:
        raise fail(cls, "stores each keyword as an attribute", f"set self.<option> for {missing} in __init__")
    shown = repr(strategy)
    hidden = [option for option in cls.options() if f"{option}=" not in shown]
    if hidden:
        raise fail(cls, "repr shows every option", f"{hidden} missing from {shown}")
    rebuilt = construct(cls, tasks, strategy.config(), "config() rebuilds the instance")
    if repr(rebuilt) != shown:
        raise fail(cls, "config() rebuilds the instance", f"{cls.__name__}(tasks, **config()) is {rebuilt!r}")
    learnable = {id(p) for p in strategy.parameters() if p.requires_grad}
    groups = strategy.parameter_groups(1e-3)
    grouped = [id(p) for group in groups for p in group["params"]]
    if sorted(grouped) != sorted(learnable):
        raise fail(cls, "parameter_groups holds its learnable parameters", "each exactly once, and no others")
    lr = getattr(strategy, "lr", None)
    if lr is not None and any(group.get("lr") != lr for group in groups):
        raise fail(cls, "an lr attribute sets its parameter group", f"lr={lr!r}, groups have {groups!r}")


def check_bad_options(cls: type[Strategy], tasks: Sequence[TaskSpec], options: dict[str, Any]) -> None:
    attempts = [((), options, "an empty task list")]
    attempts += [(tasks, {**options, option: NOT_AN_OPTION}, f"{option}={NOT_AN_OPTION!r}") for option in cls.options()]
    for attempt_tasks, attempt_options, what in attempts:
        try:
            cls(attempt_tasks, **attempt_options)
        except MimoBenchError:
            continue
        except Exception as error:
            raise fail(
                cls,
                "rejects a bad option with MimoBenchError",
                f"{what} raised {type(error).__name__}: {error}; validate with benchmark.api's option validators",
            ) from error
        raise fail(cls, "rejects a bad option with MimoBenchError", f"{what} was accepted")


def check_state_round_trip(
    cls: type[Strategy], strategy: Strategy, tasks: Sequence[TaskSpec], options: dict[str, Any]
) -> None:
    state = strategy.state_dict()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "strategy.pt"
        torch.save(state, path)
        try:
            loaded = torch.load(path, weights_only=True)
        except Exception as error:
            raise fail(
                cls,
                "state loads with torch.load(weights_only=True)",
                f"{type(error).__name__}: {str(error).splitlines()[0]}; keep buffers and extra state to "
                "tensors, numbers, strings and lists/dicts of them (checkpoints are read with weights_only=True)",
            ) from error
    fresh = construct(cls, tasks, options, "constructs")
    try:
        fresh.load_state_dict(loaded)
    except Exception as error:
        raise fail(cls, "state loads into a fresh instance", f"{type(error).__name__}: {error}") from error
    restored = fresh.state_dict()
    if set(restored) != set(state):
        raise fail(cls, "state loads into a fresh instance", f"keys {sorted(restored)} != {sorted(state)}")
    for key, value in state.items():
        if not same(restored[key], value):
            raise fail(cls, "state loads into a fresh instance", f"{key!r} came back as {restored[key]!r}")


def same(left: object, right: object) -> bool:
    """Equal tensors (NaN equal to NaN), numbers and strings, inside any nesting of dicts and lists."""
    if isinstance(left, torch.Tensor) and isinstance(right, torch.Tensor):
        return left.shape == right.shape and bool(torch.equal(left.nan_to_num(), right.nan_to_num()))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def check_search_space(cls: type[Strategy], tasks: Sequence[TaskSpec], options: dict[str, Any]) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    allowed = set(cls.options())
    for seed in range(SEARCH_TRIALS):
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
        space = cls.search_space(trial, tasks)
        if not isinstance(space, dict) or not set(space) <= allowed:
            keys = sorted(space) if isinstance(space, dict) else type(space).__name__
            raise fail(cls, "search_space gives options", f"got {keys}; its options are {sorted(allowed)}")
        construct(cls, tasks, {**options, **space}, "search_space builds a valid instance")
