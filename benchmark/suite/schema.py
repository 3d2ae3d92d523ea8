"""Suite files: parse a TOML suite and validate every key before any training.

Errors name the file, the key and what is allowed, and suggest the nearest valid key.
Structure and names are checked without importing torch; option values are checked by
constructing the problem and each strategy (their constructors validate).  A suite file is data: a
``module:attr`` plugin it names is only located (its module must exist) unless ``import_plugins`` is set,
which `mimo-bench run` does and `check` / ``run --dry-run`` do only with ``--allow-plugins``.  Built-in
and installed (entry-point) plugins are the user's own code and are always imported.
"""

from __future__ import annotations

import dataclasses
import inspect
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from benchmark.api.errors import MimoBenchError, PluginError, did_you_mean, unknown_name_error
from benchmark.api.registry import PROBLEMS, STRATEGIES, Registry, with_defaults
from benchmark.suite.compare import CompareConfig, parse_compare
from benchmark.suite.search import parse_search
from benchmark.suite.table import REQUIRED, Table
from benchmark.suite.training import check_head_lr, parse_accumulate, parse_early_stopping, parse_optimizer
from benchmark.tracking.uri import check_tracking_uri, default_tracking_uri

DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class StrategyEntry:
    """One strategy configuration of a suite: registered name, a label unique in the suite, params."""

    name: str
    label: str
    params: dict[str, Any]
    error: str = ""  # why this plugin cannot be used; its runs are recorded as failed


@dataclass(frozen=True)
class Suite:
    """A validated suite; `resolved()` is the flat, complete configuration that gets logged."""

    path: Path
    name: str
    description: str
    problem: str
    problem_options: dict[str, Any]
    model: dict[str, Any]
    optimizer: dict[str, Any]
    epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    device: str
    tracking_uri: str
    strategies: tuple[StrategyEntry, ...] = field(default=())
    search: Any = None  # a `benchmark.search_space.SearchConfig` when the suite has a [search] table
    diagnostics: bool = False  # log gradient diagnostics; no part of a run's definition (same numbers)
    unimported: tuple[str, ...] = ()  # `module:attr` plugins located but not imported: options unchecked
    accumulate: int = 1  # batches per optimizer step
    early_stopping: dict[str, Any] = field(default_factory=lambda: {"patience": 0, "min_delta": 0.0})
    compare: CompareConfig = field(default_factory=CompareConfig)  # the [compare] table

    def resolved(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "accumulate": self.accumulate,
            "seeds": list(self.seeds),
            "device": self.device,
            "diagnostics": self.diagnostics,
            "problem": {"name": self.problem, **self.problem_options},
            "model": self.model,
            "optimizer": self.optimizer,
            "early_stopping": self.early_stopping,
            "tracking": {"uri": self.tracking_uri},
            "strategies": [{"name": s.name, "label": s.label, **s.params} for s in self.strategies],
            **({"search": dataclasses.asdict(self.search)} if self.search else {}),
            **({"compare": dataclasses.asdict(self.compare)} if self.compare.static_front else {}),
        }


TOP_LEVEL = ["name", "description", "epochs", "batch_size", "accumulate", "seeds", "device", "diagnostics", "problem"]
TOP_LEVEL += ["model", "optimizer", "early_stopping", "tracking", "strategies", "search", "compare"]


def load_suite(path: str | Path, tracking_uri: str | None = None, import_plugins: bool = True) -> Suite:
    """Read and fully validate a suite file; raise `MimoBenchError` naming file and key.

    ``import_plugins=False``: ``module:attr`` plugins are located, not imported (see the module docstring).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MimoBenchError(f"{path}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MimoBenchError(f"{path}: cannot read suite file: {error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MimoBenchError(f"{path}: not valid TOML: {error}") from None
    return parse_suite(document, path, tracking_uri, import_plugins)


def parse_suite(
    document: dict[str, Any], path: Path, tracking_uri: str | None = None, import_plugins: bool = True
) -> Suite:
    """Validate a parsed TOML document (see `load_suite`)."""
    top = Table(path, "", document)
    name = top.name("name", REQUIRED, "a string naming the suite (the MLflow experiment)")
    if not name.strip():
        raise top.error("must not be empty", "name")
    description = top.get("description", str, "", "a string")
    epochs = top.positive_int("epochs", 5)
    batch_size = top.positive_int("batch_size", 64)
    seeds = top.get("seeds", list, [0], "an array of integers, e.g. [0, 1, 2]")
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise top.error(f"expected a non-empty array of non-negative integers, got {seeds!r}", "seeds")
    if len(set(seeds)) != len(seeds):
        raise top.error(f"seeds repeat: {seeds!r}", "seeds")
    device = top.choice("device", "cpu", DEVICES)
    diagnostics = top.get("diagnostics", bool, False, "true or false (log gradient norms and cosines)")
    optimizer = parse_optimizer(path, top.get("optimizer", dict, {}, "a table"), epochs)  # before torch is imported
    accumulate = parse_accumulate(top)
    early_stopping = parse_early_stopping(path, top.get("early_stopping", dict, {}, "a table"))
    plugins = _Plugins(path, import_plugins)
    problem_name, problem_options, tasks = _problem(plugins, top.get("problem", dict, {}, "a table"))
    if tasks is not None:
        check_head_lr(path, optimizer, tuple(t.name for t in tasks))
    model = _model(path, top.get("model", dict, {}, "a table"))
    tracking = Table(path, "tracking", top.get("tracking", dict, {}, "a table"))
    file_uri = tracking.get("uri", str, None, "a tracking URI string")
    if file_uri is not None:
        check_tracking_uri(file_uri, f"{path}: tracking.uri")
    if tracking_uri:
        check_tracking_uri(tracking_uri, "--tracking-uri")
    uri = tracking_uri or file_uri or default_tracking_uri()
    tracking.check_no_rest(["uri"])
    strategies = _strategies(plugins, top.get("strategies", list, REQUIRED, "an array of tables [[strategies]]"), tasks)
    search = None
    if "search" in top.table:
        if plugins.unimported:
            raise top.error(
                f"checking it needs the plugin {plugins.unimported[0]} imported; pass --allow-plugins", "search"
            )
        classes = {e.label: STRATEGIES.get(e.name) for e in strategies if not e.error}
        table = top.get("search", dict, {}, "a table")
        search = parse_search(path, table, list(classes), classes, tasks, optimizer, epochs)
    compare = parse_compare(path, top.get("compare", dict, {}, "a table"), [e.label for e in strategies])
    top.check_no_rest(TOP_LEVEL)
    return Suite(
        path,
        name,
        description,
        problem_name,
        problem_options,
        model,
        optimizer,
        epochs,
        batch_size,
        tuple(seeds),
        device,
        uri,
        strategies,
        search,
        diagnostics,
        tuple(plugins.unimported),
        accumulate,
        early_stopping,
        compare,
    )


@dataclass
class _Plugins:
    """Finds the class a suite names; a ``module:attr`` is only located unless ``import_plugins``."""

    path: Path
    import_plugins: bool
    unimported: list[str] = field(default_factory=list)

    def get(self, registry: Registry, name: str, where: str) -> type | None:
        """The class, or None for a ``module:attr`` left unimported (recorded in ``unimported``)."""
        if name not in registry:
            raise unknown_name_error(registry.kind, name, registry.names(), f"{self.path}: {where}")
        if ":" in name:
            registry.locate(name, f"{self.path}: {where}")
            if not self.import_plugins:
                self.unimported.append(name)
                return None
        return registry.get(name, f"{self.path}: {where}")


def _problem(plugins: _Plugins, table: dict[str, Any]) -> tuple[str, dict[str, Any], tuple | None]:
    """The problem's name, options and tasks (None when its plugin is not imported)."""
    problem = Table(plugins.path, "problem", table)
    name = problem.get("name", str, "glyphs", "a problem name")
    options = problem.rest()
    cls = plugins.get(PROBLEMS, name, "problem.name")
    return name, options, None if cls is None else _construct(plugins.path, "problem", cls, options).tasks


def _model(path: Path, table: dict[str, Any]) -> dict[str, Any]:
    from benchmark.train.model import ModelConfig

    model = Table(path, "model", table)
    defaults = ModelConfig()
    resolved: dict[str, Any] = {}
    for spec in fields(ModelConfig):
        default = getattr(defaults, spec.name)
        if isinstance(default, tuple):
            values = model.get(spec.name, list, list(default), "an array of positive integers")
            if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
                raise model.error(f"expected a non-empty array of positive integers, got {values!r}", spec.name)
            resolved[spec.name] = list(values)
        elif spec.name == "dropout":
            resolved[spec.name] = model.number("dropout", default, 0.0, inclusive=True)
            if resolved[spec.name] >= 1:
                raise model.error(f"must be in [0, 1), got {resolved[spec.name]}", "dropout")
        elif spec.name == "head_hidden":
            resolved[spec.name] = model.get("head_hidden", int, default, "an integer >= 0 (0: linear heads)")
            if resolved[spec.name] < 0:
                raise model.error(f"must be >= 0, got {resolved[spec.name]}", "head_hidden")
        else:
            resolved[spec.name] = model.positive_int(spec.name, default)
    model.check_no_rest([f.name for f in fields(ModelConfig)])
    return resolved


def _strategies(plugins: _Plugins, entries: list[Any], tasks: tuple | None) -> tuple[StrategyEntry, ...]:
    """Every strategy entry; each is constructed to check its options unless its class or the tasks are unknown."""
    path = plugins.path
    if not entries:
        raise MimoBenchError(f"{path}: strategies: empty; add at least one [[strategies]] table with a name")
    resolved: list[StrategyEntry] = []
    configurations: dict[str, dict[str, Any]] = {}  # label -> every option, defaults filled in
    for index, raw in enumerate(entries):
        entry = Table(path, f"strategies[{index}]", raw)
        name = entry.get("name", str, REQUIRED, "a strategy name (see `mimo-bench strategies`)")
        label = entry.name("label", None, "a string naming this configuration")
        params = entry.rest()
        error, cls = "", None
        try:
            cls = plugins.get(STRATEGIES, name, entry.key("name"))
            if cls is not None and tasks is not None:
                _construct(path, entry.where, cls, params, tasks)
        except PluginError as broken:
            error = str(broken)
        full = with_defaults(cls, params) if cls is not None and not error else params
        for earlier in resolved:
            if earlier.name == name and configurations[earlier.label] == full:
                raise entry.error(f"duplicates {earlier.label!r} (same name and parameters); remove one")
        if label is None:
            taken = sum(1 for e in resolved if e.name == name)
            label = name if taken == 0 else f"{name}-{taken + 1}"
        if any(e.label == label for e in resolved):
            raise entry.error(f"label {label!r} is used twice; give each configuration its own label", "label")
        resolved.append(StrategyEntry(name, label, params, error))
        configurations[label] = full
    return tuple(resolved)


def _construct(path: Path, where: str, cls: type, options: dict[str, Any], *args: Any) -> Any:
    """Build a plugin to validate its options; its own errors get the file and key prefixed."""
    allowed = cls.options()
    for key in options:
        if key not in allowed:
            listed = ", ".join(sorted(allowed)) or "(no options)"
            raise MimoBenchError(
                f"{path}: {where}.{key}: unknown option for {cls.name}{did_you_mean(key, allowed)}; allowed: {listed}"
            )
    missing = [k for k, default in allowed.items() if default is inspect.Parameter.empty and k not in options]
    if missing:
        raise MimoBenchError(f"{path}: {where}: {cls.name} needs option(s) {', '.join(missing)}")
    try:
        return cls(*args, **options)
    except MimoBenchError as error:
        raise MimoBenchError(f"{path}: {where}: {error}") from None
    except (TypeError, ValueError) as error:
        raise MimoBenchError(f"{path}: {where}: invalid option for {cls.name}: {error}") from None
    except Exception as error:  # a broken plugin, not a bad suite
        raise PluginError(f"{path}: {where}: {cls.name} raised {type(error).__name__}: {error}") from error
