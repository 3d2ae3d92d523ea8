"""Values the search writes or draws: TOML that reads back as written, static weights on the scaled simplex."""

from __future__ import annotations

import math
import tomllib

import optuna
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.api.problem import TaskSpec
from benchmark.suite.toml import to_toml
from strategies.static import Static

keys = st.text(min_size=1, max_size=12)
scalars = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=12))
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=8
)


@settings(max_examples=200, deadline=None)
@given(
    top=st.dictionaries(keys, values, max_size=4),
    tables=st.dictionaries(keys, st.dictionaries(keys, values, max_size=3), max_size=2),
    entries=st.lists(st.dictionaries(keys, values, min_size=1, max_size=3), min_size=1, max_size=2),
)
def test_toml_reads_back_as_written_whatever_the_keys(top, tables, entries):
    suite = {**{k: v for k, v in top.items() if not isinstance(v, dict | list)}, **tables, "strategies": entries}
    assert tomllib.loads(to_toml(suite)) == suite


def test_task_names_with_dots_and_spaces_survive_an_exported_suite():
    suite = {"name": "x", "strategies": [{"name": "static", "weights": {"price.usd": 1.5, "two words": 0.5}}]}
    assert tomllib.loads(to_toml(suite)) == suite


def tasks(count: int) -> list[TaskSpec]:
    return [TaskSpec(f"t{i}", "classification", 2) for i in range(count)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 80).flatmap(lambda n: st.lists(st.floats(1e-6, 1.0), min_size=n, max_size=n)))
def test_static_search_space_stays_on_the_scaled_simplex_for_any_task_count(draws):
    trial = optuna.trial.FixedTrial({f"u_t{i}": u for i, u in enumerate(draws)})
    weights = Static.search_space(trial, tasks(len(draws)))["weights"]
    count = len(draws)
    assert math.isclose(sum(weights.values()), count, rel_tol=1e-9)
    assert min(weights.values()) >= min(0.05 * count, 0.5) * (1 - 1e-9)  # every task keeps a floor above 0
    Static(tasks(count), weights=weights)  # and the strategy accepts them
