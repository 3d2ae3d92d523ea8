"""The suite's ``[search]`` table: which strategies Optuna searches, how, and within which bounds.

A strategy's space is what its ``search_space(trial, tasks)`` asks of the trial; a suite may narrow
any of those parameters (``[search.space.<label>] alpha = [0.5, 2.0]``, or a list of choices).
Optuna stores them namespaced (``strategy.alpha``; the training options of ``optimizer_space`` and
``search_lr`` are ``optimizer.<key>``), so a strategy's own ``lr`` never shares a name with the network's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.api.errors import MimoBenchError, did_you_mean
from benchmark.suite.optimizer_space import parse_optimizer_space
from benchmark.suite.table import Table

if TYPE_CHECKING:
    from benchmark.api.problem import TaskSpec  # torch: only where a [search] table is checked

SAMPLERS = ("auto", "tpe", "random", "nsga2")
PRUNERS = ("none", "median", "halving")
OPTIMIZER_LR = "optimizer.lr"  # the Optuna name of the network's lr
STRATEGY_PREFIX = "strategy."  # Optuna names of a strategy's own parameters
FAILED_PER_TRIAL = 2  # default max_failed: this many times the budget
SPACE_PROBES = 40  # random trials used to discover a space's parameters (spaces can be conditional)


@dataclass(frozen=True)
class SearchConfig:
    """A validated ``[search]`` table."""

    strategies: tuple[str, ...]  # labels of the suite's strategy configurations to search
    trials: int  # total budget per study (a rerun resumes up to it)
    objective: str  # "joint", "pareto", or "val/<task>/<metric>"
    sampler: str
    pruner: str
    search_lr: bool
    max_failed: int  # failed trials after which a process stops its study
    space: dict[str, dict[str, list]] = field(default_factory=dict)  # label -> parameter -> bounds or choices
    optimizer_space: dict[str, list] = field(default_factory=dict)  # training option -> bounds or choices

    @property
    def multi_objective(self) -> bool:
        return self.objective == "pareto"

    def sampler_name(self) -> str:
        if self.sampler != "auto":
            return self.sampler
        return "nsga2" if self.multi_objective else "tpe"


class NarrowedTrial:
    """A strategy's view of a trial: its ``suggest_*`` calls use the suite's narrower bounds or choices
    where given (keyed by the bare names the strategy asks for) and reach Optuna as ``strategy.<name>``."""

    def __init__(self, trial: Any, narrowing: dict[str, list]):
        self.trial, self.narrowing = trial, narrowing

    def suggest_float(self, name: str, low: float, high: float, **options: Any) -> float:
        low, high = self.narrowing.get(name, (low, high))
        return self.trial.suggest_float(STRATEGY_PREFIX + name, low, high, **options)

    def suggest_int(self, name: str, low: int, high: int, **options: Any) -> int:
        low, high = self.narrowing.get(name, (low, high))
        return self.trial.suggest_int(STRATEGY_PREFIX + name, low, high, **options)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self.trial.suggest_categorical(STRATEGY_PREFIX + name, self.narrowing.get(name, list(choices)))


def discover_space(cls: type, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
    """Parameter name -> Optuna distribution of a strategy's search space (conditional branches included)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    found: dict[str, Any] = {}
    for _ in range(SPACE_PROBES):
        trial = study.ask()
        cls.search_space(trial, tasks)
        found.update(trial.distributions)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return found


def check_narrowing(where: str, label: str, cls: type, tasks: Sequence[TaskSpec], narrowing: dict) -> None:
    """Every narrowed parameter exists and keeps at least one valid point inside its default space."""
    space = discover_space(cls, tasks)
    for name, value in narrowing.items():
        place = f"{where}.space.{label}.{name}"
        if name not in space:
            allowed = ", ".join(sorted(space)) or "(no searchable parameters)"
            raise MimoBenchError(
                f"{place}: {label} searches no parameter '{name}'{did_you_mean(name, space)}; allowed: {allowed}"
            )
        distribution = space[name]
        if hasattr(distribution, "choices"):
            if not isinstance(value, list) or not value or any(v not in distribution.choices for v in value):
                raise MimoBenchError(
                    f"{place}: expected a non-empty list of choices from {list(distribution.choices)}, got {value!r}"
                )
            continue
        numbers = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        )
        if not numbers or not distribution.low <= value[0] <= value[1] <= distribution.high:
            raise MimoBenchError(
                f"{place}: {value!r} leaves no valid point; expected [low, high] with "
                f"{distribution.low:g} <= low <= high <= {distribution.high:g}"
            )


def parse_search(
    path: Path,
    table: Any,
    labels: Sequence[str],
    classes: dict[str, type],
    tasks: Sequence[TaskSpec],
    optimizer: dict[str, Any],
    epochs: int,
) -> SearchConfig:
    """Validate the ``[search]`` table of a suite (``classes``: label -> strategy class; ``optimizer``: the
    suite's resolved ``[optimizer]``, which ``optimizer_space`` varies)."""
    search = Table(path, "search", table)
    chosen = search.get("strategies", list, list(labels), "an array of strategy labels")
    for label in chosen:
        if label not in labels:
            raise search.error(
                f"no strategy labelled {label!r}{did_you_mean(str(label), labels)}; labels: {', '.join(labels)}",
                "strategies",
            )
    trials = search.positive_int("trials", 20)
    objective = search.get("objective", str, "joint", "'joint', 'pareto' or 'val/<task>/<metric>'")
    metrics = [f"val/{t.name}/{m}" for t in tasks for m in t.metrics]
    if objective not in ("joint", "pareto", *metrics):
        allowed = ", ".join(["joint", "pareto", *metrics])
        raise search.error(
            f"'{objective}' is not an objective{did_you_mean(objective, ['joint', 'pareto', *metrics])}; allowed: {allowed}",
            "objective",
        )
    sampler = search.choice("sampler", "auto", SAMPLERS)
    pruner = search.choice("pruner", "median", PRUNERS)
    if objective == "pareto" and pruner != "none" and "pruner" in search.table:
        raise search.error('pruning needs a single objective; use pruner = "none" with objective = "pareto"', "pruner")
    if objective == "pareto":
        pruner = "none"
    if sampler == "nsga2" and objective != "pareto":
        raise search.error('nsga2 is for objective = "pareto"; use tpe or random for one objective', "sampler")
    search_lr = search.get("search_lr", bool, False, "true or false")
    max_failed = search.positive_int("max_failed", FAILED_PER_TRIAL * trials)
    space_table = Table(path, "search.space", search.get("space", dict, {}, "a table of strategy labels"))
    space = {}
    for label in space_table.table:
        if label not in chosen:
            raise space_table.error(f"{label!r} is not searched; searched: {', '.join(chosen)}", label)
        narrowing = space_table.get(label, dict, {}, "a table: parameter = [low, high] or [choices]")
        check_narrowing(f"{path}: search", label, classes[label], tasks, narrowing)
        space[label] = narrowing
    optimizer_table = search.get("optimizer_space", dict, {}, "a table: option = [low, high] or [choices]")
    optimizer_space = parse_optimizer_space(path, optimizer_table, search_lr, optimizer, epochs)
    keys = ["strategies", "trials", "objective", "sampler", "pruner", "search_lr", "max_failed", "space"]
    search.check_no_rest([*keys, "optimizer_space"])
    return SearchConfig(
        tuple(chosen), trials, objective, sampler, pruner, search_lr, max_failed, space, optimizer_space
    )
