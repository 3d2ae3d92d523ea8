"""Strategy discovery: built-ins, entry points (the same code path an installed plugin takes), module:attr."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap

import pytest

from benchmark.api.errors import MimoBenchError
from benchmark.api.registry import PROBLEMS, STRATEGIES, NameClashError, baseline_strategy

PLUGIN = '''
"""A strategy shipped outside mimo-bench."""
import torch
from benchmark.api.strategy import LossWeighting


class FirstTaskOnly(LossWeighting):
    """Train only the first task (a plugin for the tests)."""

    name = "first_only"

    def __init__(self, tasks, *, scale: float = 1.0):
        super().__init__(tasks)
        if scale <= 0:
            raise self._error(f"scale must be > 0, got {scale}")
        self.scale = scale

    def combine(self, ctx):
        first = self.task_names[0]
        weights = {n: torch.tensor(self.scale if n == first else 0.0) for n in self.task_names}
        return self.scale * ctx.losses[first], weights


class Nameless(LossWeighting):
    """A module:attr plugin need not declare a name."""

    def combine(self, ctx):
        return sum(ctx.losses.values()), {n: torch.tensor(1.0) for n in self.task_names}
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "mimo_plugin_demo.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "mimo_plugin_broken.py").write_text("raise RuntimeError('plugin exploded on import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = {registry: (dict(registry._entry_points), dict(registry._classes)) for registry in (STRATEGIES, PROBLEMS)}
    yield "mimo_plugin_demo"
    for registry, (entry_points, classes) in saved.items():
        registry._entry_points, registry._classes = entry_points, classes
    for name in ("mimo_plugin_demo", "mimo_plugin_broken"):
        sys.modules.pop(name, None)


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group="mimo_bench.strategies")


def test_builtins_are_listed_by_module_name():
    assert {"sum", "static"} <= set(STRATEGIES.names())
    assert STRATEGIES.get("static").name == "static"
    assert STRATEGIES.names("st*") == [n for n in STRATEGIES.names() if n.startswith("st")]
    assert {"glyphs", "omniglot", "tabular"} <= set(PROBLEMS.names())


def test_entry_point_plugin_is_registered_and_runs(plugin_module, tmp_path, tracking_uri, capsys):
    from benchmark.cli import main

    STRATEGIES.add_entry_point(entry_point("first_only", f"{plugin_module}:FirstTaskOnly"))
    assert "first_only" in STRATEGIES.names()
    suite = tmp_path / "suite.toml"
    suite.write_text(
        textwrap.dedent(f"""
        name = "plugin"
        epochs = 1
        seeds = [0]
        [problem]
        name = "tabular"
        samples = 200
        [tracking]
        uri = "{tracking_uri}"
        [[strategies]]
        name = "first_only"
        scale = 2.0
    """)
    )
    assert main(["run", str(suite), "--no-progress"]) == 0
    assert "first_only" in capsys.readouterr().out


def test_module_attr_reference_loads_directly(plugin_module):
    cls = STRATEGIES.get(f"{plugin_module}:FirstTaskOnly")
    assert cls.name == "first_only" and cls.options() == {"scale": 1.0}


def test_module_attr_reference_without_a_name_loads(plugin_module):
    cls = STRATEGIES.get(f"{plugin_module}:Nameless")
    assert cls.__name__ == "Nameless" and "name" not in vars(cls)


def test_broken_plugin_names_itself(plugin_module):
    STRATEGIES.add_entry_point(entry_point("broken", "mimo_plugin_broken:Anything"))
    with pytest.raises(MimoBenchError, match="plugin 'broken'.*failed to import.*plugin exploded on import"):
        STRATEGIES.get("broken")


def test_plugin_that_is_not_a_strategy_is_refused(plugin_module):
    STRATEGIES.add_entry_point(entry_point("notone", "builtins:dict"))
    with pytest.raises(MimoBenchError, match="not a subclass of benchmark.api.strategy:Strategy"):
        STRATEGIES.get("notone")


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(MimoBenchError, match="unknown strategy 'statc' \\(did you mean 'static'\\?\\)"):
        STRATEGIES.get("statc")


def test_entry_point_that_reuses_a_builtin_name_is_refused_naming_both(plugin_module):
    STRATEGIES.add_entry_point(entry_point("sum", f"{plugin_module}:FirstTaskOnly"))
    refused = (
        f"entry point 'sum = {plugin_module}:FirstTaskOnly' reuses the name 'sum' of the built-in module strategies.sum"
    )
    with pytest.raises(NameClashError, match=refused):
        STRATEGIES.get("sum")
    with pytest.raises(NameClashError, match=refused):
        baseline_strategy()  # the baseline is never left in doubt


def test_plugin_class_that_declares_a_builtin_name_is_refused(plugin_module):
    from strategies.static import Static

    importlib.import_module(plugin_module).FirstTaskOnly.name = "static"  # (a fresh module per test)
    STRATEGIES.add_entry_point(entry_point("mine", f"{plugin_module}:FirstTaskOnly"))
    with pytest.raises(
        NameClashError, match=f"{plugin_module}:FirstTaskOnly .name = 'static'. reuses .* strategies.static"
    ):
        STRATEGIES.get("mine")
    with pytest.raises(NameClashError, match="reuses the name 'static'"):
        STRATEGIES.get(f"{plugin_module}:FirstTaskOnly")
    assert STRATEGIES.get("static") is Static


def test_listing_shows_a_broken_plugin_with_its_reason_and_every_other_one(plugin_module, capsys):
    from benchmark.cli import main

    STRATEGIES.add_entry_point(entry_point("broken", "mimo_plugin_broken:Anything"))
    STRATEGIES.add_entry_point(entry_point("first_only", f"{plugin_module}:FirstTaskOnly"))
    STRATEGIES.add_entry_point(entry_point("notone", "builtins:dict"))
    assert main(["strategies"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")}
    assert "BROKEN: " in listed["broken"] and "plugin exploded on import" in listed["broken"]
    assert "BROKEN: " in listed["notone"] and "not a subclass" in listed["notone"]
    assert "Train only the first task" in listed["first_only"]
    assert {"sum", "static", "gradnorm"} <= set(listed)

    PROBLEMS.add_entry_point(
        importlib.metadata.EntryPoint(name="shaky", value="mimo_plugin_broken:Problem", group="mimo_bench.problems")
    )
    assert main(["problems"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")}
    assert "BROKEN: " in listed["shaky"] and "plugin exploded on import" in listed["shaky"]
    assert {"glyphs", "omniglot", "tabular"} <= set(listed)
