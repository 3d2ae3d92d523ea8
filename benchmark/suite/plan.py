"""The runs a suite defines: one per (strategy configuration, seed), each with its stable run key.

A run's definition is everything its numbers depend on: the problem, model and strategy with every
option's default filled in, optimizer (with its schedule, clipping and per-head learning rates), epochs,
batch size, gradient accumulation, early stopping, the resolved device, the CPU thread count,
and a fingerprint of the code that trains it (`code_fingerprint`).  Its ``run_key`` hashes all of
that, so a finished run is reused only by a run that would compute the same numbers; a run from
older code has another key: it is never skipped as "done earlier" and the report, which covers one
definition per strategy, leaves it out and says so (`benchmark.report.data`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from benchmark.api.errors import MimoBenchError
from benchmark.api.registry import PROBLEMS, STRATEGIES, with_defaults
from benchmark.suite.schema import StrategyEntry, Suite

DEFAULT_THREADS = 1  # CPU threads per run: kernels' last bits depend on the count, so fix it by default
TRAINING_MODULES = (
    "benchmark.train.trainer",
    "benchmark.train.single_task",
)  # with the problem's and strategy's modules
SHARED = (  # the same for every label of a suite
    "problem",
    "model",
    "optimizer",
    "epochs",
    "batch_size",
    "accumulate",
    "early_stopping",
    "device",
    "threads",
    "code",
)


def digest(values: Any) -> str:
    """A short stable hash of JSON-able ``values``."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    """One run of a suite: a strategy configuration and a seed."""

    strategy: StrategyEntry
    seed: int
    definition: dict[str, Any]  # everything that defines the run's result

    @property
    def run_key(self) -> str:
        return digest(self.definition)

    @property
    def definition_key(self) -> str:
        """The key of the run's definition over every seed (its run key without the seed)."""
        return digest({k: v for k, v in self.definition.items() if k != "seed"})

    @property
    def setup_key(self) -> str:
        """The key of what every strategy of the suite shares (problem, model, optimizer, ..., code)."""
        return digest({k: self.definition.get(k) for k in SHARED})

    @property
    def name(self) -> str:
        return f"{self.strategy.label}/seed-{self.seed}"


def expand(suite: Suite, device: str | None = None, threads: int | None = None) -> list[RunSpec]:
    """Every (strategy configuration, seed) pair of the suite, strategy-major, for runs on ``device``
    (resolved: 'cpu' or 'cuda'; default the suite's, resolved) with ``threads`` CPU threads (default
    `DEFAULT_THREADS`)."""
    unimported = set(suite.unimported)  # `module:attr` plugins that `check` located without importing
    problem = None if suite.problem in unimported else PROBLEMS.get(suite.problem)
    problem_options = with_defaults(problem, suite.problem_options) if problem else suite.problem_options
    shared = {
        "problem": {"name": suite.problem, **problem_options},
        "model": suite.model,
        "optimizer": suite.optimizer,
        "epochs": suite.epochs,
        "batch_size": suite.batch_size,
        "accumulate": suite.accumulate,
        "early_stopping": suite.early_stopping,
        "device": device or resolve_device(suite.device),
        "threads": threads or DEFAULT_THREADS,
        "code": code_fingerprint((*TRAINING_MODULES, *([problem.__module__] if problem else []))),
    }
    specs = []
    for entry in suite.strategies:
        strategy = {"name": entry.name, **entry.params}
        code = entry.name  # a plugin that cannot be loaded: its runs fail at once
        if not entry.error and entry.name not in unimported:
            cls = STRATEGIES.get(entry.name)
            strategy = {"name": entry.name, **with_defaults(cls, entry.params)}
            code = code_fingerprint((cls.__module__,))
        definition = _json({**shared, "strategy": strategy, "strategy_code": code})
        specs += [RunSpec(entry, seed, {**definition, "seed": seed}) for seed in suite.seeds]
    return specs


def resolve_device(device: str) -> str:
    """A suite's device as runs use it: 'auto' is 'cuda' where CUDA is available, else 'cpu'."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise MimoBenchError("device = 'cuda' but no CUDA device is available; use 'cpu' or 'auto'")
    return device


def coverage_tags(specs: list[RunSpec]) -> dict[str, str]:
    """Tags of a parent run naming the runs its suite covers (done now or earlier): definitions and seeds."""
    definitions = sorted({spec.definition_key for spec in specs})
    return {"definitions": json.dumps(definitions), "seeds": json.dumps(sorted({spec.seed for spec in specs}))}


def _json(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as JSON would give them back (tuples as lists, other objects as text): what gets hashed."""
    return json.loads(json.dumps(values, default=str))


def code_fingerprint(modules: tuple[str, ...]) -> str:
    """A hash of the source of ``modules`` and of every module of the same packages (and of ``benchmark``)
    they take names from, transitively.  Parsed, with docstrings dropped: comments, docstrings and
    formatting do not change it; any change to the code does."""
    roots = {"benchmark", *(name.split(".")[0] for name in modules)}
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [n for n in _imported(importlib.import_module(name)) if n.split(".")[0] in roots]
    return digest({name: _source_digest(name) for name in sorted(seen)})


def _imported(module: ModuleType) -> set[str]:
    """The modules that ``module``'s globals come from."""
    names = set()
    for value in vars(module).values():
        name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if isinstance(name, str):
            names.add(name)
    return names


def _source_digest(name: str) -> str:
    """A hash of module ``name``'s code without docstrings, or of its name where its source is not on disk."""
    try:
        tree = ast.parse(inspect.getsource(importlib.import_module(name)))
    except (OSError, TypeError):
        return name
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return digest(ast.dump(tree))
