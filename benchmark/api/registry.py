"""Name -> class registries for strategies and problems, with plugin discovery.

Three sources, in order of precedence:
  1. classes registered in this process (`Registry.add_entry_point`, `Registry.register`);
  2. installed entry points of the registry's group (e.g. ``mimo_bench.strategies``);
  3. built-in modules of a package: module ``<package>.<name>`` holds one subclass of the base, or the
     package's ``FAMILIES`` maps the name to a module that holds several (each with its ``name``).
A name of the form ``module:attr`` loads that object directly (a user's explicit choice); `locate`
checks that its module exists without executing any code, for `mimo-bench check` and ``--dry-run``.
Nothing is imported until a class is asked for, so listing names stays cheap.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata
import inspect
import pkgutil
import sys
from typing import Any, Generic, TypeVar

from benchmark.api.errors import MimoBenchError, PluginError, unknown_name_error

T = TypeVar("T")


class NameClashError(PluginError):
    """A plugin that reuses a built-in name: refused, so an installed ``sum`` never replaces the baseline."""


class Registry(Generic[T]):
    """A lazy registry of subclasses of ``base_path`` ('module:Class'), keyed by ``cls.name``."""

    def __init__(self, kind: str, package: str, group: str, base_path: str):
        self.kind = kind
        self.package = package
        self.group = group
        self.base_path = base_path
        self._entry_points: dict[str, importlib.metadata.EntryPoint] = {}
        self._classes: dict[str, type[T]] = {}

    # -- sources -------------------------------------------------------------------------
    def _builtin_names(self) -> list[str]:
        package = importlib.import_module(self.package)
        modules = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
        return modules + list(self._families())

    def _families(self) -> dict[str, str]:
        """Built-in names that share a module: the package's ``FAMILIES`` (name -> module), if any."""
        return dict(getattr(importlib.import_module(self.package), "FAMILIES", {}))

    def _installed_entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        found = {ep.name: ep for ep in importlib.metadata.entry_points(group=self.group)}
        found.update(self._entry_points)
        return found

    def add_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> None:
        """Register a plugin exactly as an installed entry point would be."""
        self._entry_points[entry_point.name] = entry_point
        self._classes.pop(entry_point.name, None)

    def register(self, cls: type[T]) -> type[T]:
        """Register a class defined in this process (usable as a decorator)."""
        origin = f"{cls.__module__}:{cls.__qualname__}"
        self._check(cls, origin=origin)
        self._refuse_builtin_name(getattr(cls, "name", ""), origin, cls)
        self._classes[cls.name] = cls  # type: ignore[attr-defined]
        return cls

    # -- queries -------------------------------------------------------------------------
    def names(self, pattern: str = "*") -> list[str]:
        """All registered names matching a glob pattern, sorted."""
        registered = {n for n in self._classes if ":" not in n}  # a loaded 'module:attr' is a reference, not a name
        every = set(self._builtin_names()) | set(self._installed_entry_points()) | registered
        return sorted(n for n in every if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return ":" in name or name in self.names()

    def get(self, name: str, where: str = "") -> type[T]:
        """The class registered under ``name`` (or at ``module:attr``); a clear error otherwise."""
        if name in self._classes:
            return self._classes[name]
        if ":" in name:
            cls = self._load(importlib.metadata.EntryPoint(name=name, value=name, group=self.group), where)
        elif name in self._installed_entry_points():
            entry_point = self._installed_entry_points()[name]
            self._refuse_builtin_name(name, f"entry point '{name} = {entry_point.value}'", None, where)
            cls = self._load(entry_point, where)
        elif name in self._builtin_names():
            cls = self._builtin(name)
        else:
            raise unknown_name_error(self.kind, name, self.names(), where)
        self._classes[name] = cls
        return cls

    def locate(self, reference: str, where: str) -> None:
        """Check that the module of a ``module:attr`` reference can be found, without importing it or its
        packages (a suite's code is not run to validate it); a `MimoBenchError` naming ``where`` if not."""
        module, _, attr = reference.partition(":")
        if not module or not attr:
            raise MimoBenchError(f"{where}: {reference!r}: a plugin reference is written module.path:ClassName")
        if not module_exists(module):
            raise MimoBenchError(
                f"{where}: {self.kind} plugin {reference!r}: no module {module!r} on the Python path "
                f"(sys.path); install it or fix the name"
            )

    def load_all(self) -> dict[str, type[T] | PluginError]:
        """Every registered class by name (imports them all); a plugin that cannot be used maps to its error."""
        loaded: dict[str, type[T] | PluginError] = {}
        for name in self.names():
            try:
                loaded[name] = self.get(name)
            except PluginError as error:
                loaded[name] = error
        return loaded

    # -- loading -------------------------------------------------------------------------
    def _base(self) -> type:
        module, attr = self.base_path.split(":")
        return getattr(importlib.import_module(module), attr)

    def _check(self, cls: object, origin: str) -> None:
        if not (isinstance(cls, type) and issubclass(cls, self._base())):
            raise PluginError(f"{self.kind} plugin {origin} is not a subclass of {self.base_path}")

    def _load(self, entry_point: importlib.metadata.EntryPoint, where: str) -> type[T]:
        try:
            cls = entry_point.load()
        except Exception as error:  # a broken plugin must not take the harness down
            prefix = f"{where}: " if where else ""
            raise PluginError(
                f"{prefix}{self.kind} plugin '{entry_point.name}' ({entry_point.value}) failed to import: "
                f"{type(error).__name__}: {error}"
            ) from error
        self._check(cls, origin=entry_point.value)
        name = getattr(cls, "name", "")  # a module:attr plugin need not set one
        self._refuse_builtin_name(name, f"{entry_point.value} (name = {name!r})", cls, where)
        return cls

    def _refuse_builtin_name(self, name: str, origin: str, cls: type | None, where: str = "") -> None:
        """A `NameClashError` naming both when a plugin (``cls``, not yet loaded if None) takes a built-in's name."""
        if name not in self._builtin_names() or (cls is not None and cls.__module__ == f"{self.package}.{name}"):
            return
        prefix = f"{where}: " if where else ""
        raise NameClashError(
            f"{prefix}{self.kind} plugin {origin} reuses the name '{name}' of the built-in module "
            f"{self.package}.{name}; refused, so '{name}' keeps meaning the built-in: rename the plugin"
        )

    def _builtin(self, name: str) -> type[T]:
        module = importlib.import_module(self._families().get(name, f"{self.package}.{name}"))
        base = self._base()
        found = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, base)
            and obj.__module__ == module.__name__
            and getattr(obj, "name", None) == name
        ]
        if len(found) != 1:
            raise RuntimeError(f"{module.__name__} must define exactly one {self.kind} class with name = '{name}'")
        return found[0]


def module_exists(dotted: str) -> bool:
    """Whether module ``dotted`` can be found, asking the import finders only: no package ``__init__`` runs
    (``importlib.util.find_spec('a.b')`` would import ``a``)."""
    parts, locations = dotted.split("."), None
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        if name in sys.modules:
            locations = getattr(sys.modules[name], "__path__", None)
            continue
        if depth > 1 and locations is None:
            return False  # the parent is a plain module, not a package
        finders = (finder for finder in sys.meta_path if hasattr(finder, "find_spec"))
        spec = next((s for finder in finders if (s := finder.find_spec(name, locations)) is not None), None)
        if spec is None:
            return False
        locations = spec.submodule_search_locations
    return True


def keyword_options(cls: type) -> dict[str, Any]:
    """A plugin's configuration: its constructor's keyword-only arguments and their defaults.

    A required option maps to ``inspect.Parameter.empty``.
    """
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def with_defaults(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every other option of the plugin ``cls`` at its default: its whole configuration."""
    defaults = {k: v for k, v in cls.options().items() if v is not inspect.Parameter.empty}
    return {**defaults, **options}


def summary(cls: type) -> str:
    """A plugin's one-line doc: the first line of its class docstring ('' without one)."""
    return (inspect.getdoc(cls) or "").splitlines()[0] if cls.__doc__ else ""


def baseline_strategy() -> str:
    """The name of the strategy that declares ``baseline = True`` (the built-in ``sum``): what Δm%, the search's
    joint objective and the perf ratios compare against.  Imports every strategy."""
    found = []
    for name in STRATEGIES.names():
        try:
            if getattr(STRATEGIES.get(name), "baseline", False):
                found.append(name)
        except NameClashError:
            raise  # a plugin named like a built-in must not leave the baseline in doubt
        except PluginError:
            pass  # a broken plugin is reported where it is used, not here
    if len(found) != 1:
        raise MimoBenchError(f"exactly one strategy must declare baseline = True; found {found or 'none'}")
    return found[0]


STRATEGIES: Registry = Registry("strategy", "strategies", "mimo_bench.strategies", "benchmark.api.strategy:Strategy")
PROBLEMS: Registry = Registry("problem", "benchmark.problems", "mimo_bench.problems", "benchmark.api.problem:Problem")


class Described:
    """What the registries and ``mimo-bench strategies``/``problems`` ask of a plugin class."""

    @classmethod
    def options(cls) -> dict[str, Any]:
        """The configuration keywords and their defaults (``inspect.Parameter.empty`` if required)."""
        return keyword_options(cls)

    @classmethod
    def summary(cls) -> str:
        """The first line of the docstring."""
        return summary(cls)
