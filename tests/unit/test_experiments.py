"""Every suite shipped in experiments/ is valid, and the seeds' Omniglot nets train on real files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from benchmark.api.registry import STRATEGIES
from benchmark.run.runner import SuiteRunner
from benchmark.suite.schema import load_suite
from tests.unit.test_problems import write_omniglot

EXPERIMENTS = sorted((Path(__file__).resolve().parents[2] / "experiments").glob("*.toml"))


@pytest.fixture
def omniglot_on_disk(tmp_path, monkeypatch) -> Path:
    """A tiny Omniglot background set at data/omniglot, as the seed suites expect."""
    monkeypatch.chdir(tmp_path)
    write_omniglot(tmp_path / "data" / "omniglot")
    return tmp_path


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_shipped_suite_is_valid(path, omniglot_on_disk):
    suite = load_suite(path)
    assert suite.strategies and suite.seeds


def test_quick_suite_runs_every_registered_strategy():
    suite = load_suite(Path(__file__).resolve().parents[2] / "experiments" / "quick.toml")
    assert sorted(s.name for s in suite.strategies) == STRATEGIES.names()
    assert suite.problem == "glyphs" and len(suite.seeds) == 1


@pytest.mark.parametrize("stem", ["multi_mnist", "penguins"])
def test_real_data_suites_run_every_registered_strategy(stem):
    """Their strategy lists were written out by hand: a strategy added since fails here until it is listed."""
    suite = load_suite(Path(__file__).resolve().parents[2] / "experiments" / f"{stem}.toml")
    assert sorted(s.name for s in suite.strategies) == STRATEGIES.names()
    assert suite.problem == stem and len(suite.seeds) >= 3


@pytest.mark.parametrize("mode", ["two_input", "two_output"])
def test_seed_omniglot_nets_train_on_files(mode, omniglot_on_disk, tracking_uri):
    path = EXPERIMENTS[[p.stem for p in EXPERIMENTS].index(f"seed_omniglot_{mode}")]
    suite = load_suite(path, tracking_uri)
    suite = replace(suite, epochs=1, problem_options={**suite.problem_options, "image_size": 16})
    outcomes = SuiteRunner(suite, show_progress=False).run()
    assert outcomes and all(o.status == "FINISHED" for o in outcomes)
    expected = {"character"} if mode == "two_input" else {"alphabet", "character"}
    assert {key.split("/")[1] for key in outcomes[0].test_metrics} == expected


def test_the_two_family_suites_split_the_registry_between_them():
    """gradient.toml runs every strategy with torchjd-style variants; loss_weighting.toml every other one."""
    folder = Path(__file__).resolve().parents[2] / "experiments"
    gradient = {s.name for s in load_suite(folder / "gradient.toml").strategies}
    weighting = {s.name for s in load_suite(folder / "loss_weighting.toml").strategies}
    with_variants = {n for n in STRATEGIES.names() if getattr(STRATEGIES.get(n), "variants", ())}
    assert with_variants <= gradient
    assert weighting == set(STRATEGIES.names()) - with_variants
