"""Bad input and secrets: names that become paths or filter strings, suites that name code, passwords in URIs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from benchmark.suite.toml import to_toml
from benchmark.tracking.store import Tracker
from tests.helpers import COMMAND

TABULAR = {"name": "tabular", "samples": 120, "dim_a": 6, "dim_b": 4}


def write_suite(directory: Path, name: str, strategies: list[dict], problem=TABULAR, **extra) -> Path:
    path = directory / "suite.toml"
    suite = {"name": name, "epochs": 1, "batch_size": 32, "seeds": [0], "problem": problem, **extra}
    path.write_text(to_toml({**suite, "strategies": strategies}))
    return path


def mimo_bench(*args: str, cwd: Path | None = None, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    paths = [str(p) for p in (pythonpath, os.environ.get("PYTHONPATH")) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


# -- item 14: names that become paths ------------------------------------------------------------


def test_a_suite_name_with_dots_and_slashes_keeps_its_artifacts_inside_the_store(tmp_path, tracking_uri):
    tracker = Tracker(tracking_uri)
    run = tracker.start_run(tracker.experiment("../../escaped"), "r", {}, {})
    run.text("written", "suite.toml")
    store = Path(tracking_uri.removeprefix("sqlite:///")).parent
    outside = [p for p in tmp_path.rglob("suite.toml") if store not in p.parents]
    assert outside == [] and not (tmp_path.parent / "escaped").exists(), "an artifact left the store's folder"
    (inside,) = (store / "artifacts").rglob("suite.toml")
    assert inside.read_text() == "written" and ".." not in inside.relative_to(store).parts


# -- item 15: check and --dry-run never execute the code a suite names -------------------------------

SIDE_EFFECT_PLUGIN = '''
"""A strategy whose import leaves a mark (a suite someone sent you)."""
import pathlib
pathlib.Path(__file__).with_name("executed").write_text("imported")

from strategies.sum import Sum


class Marked(Sum):
    """The sum, from a module with a side effect."""

    name = "marked"
'''


def test_check_and_dry_run_do_not_import_a_module_the_suite_names(tmp_path, tracking_uri):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "mimo_side_effect.py").write_text(SIDE_EFFECT_PLUGIN)
    suite = write_suite(tmp_path, "sent", [{"name": "mimo_side_effect:Marked"}, {"name": "sum"}])
    checked = mimo_bench("check", str(suite), pythonpath=plugins)
    assert checked.returncode == 0, checked.stderr
    assert "not imported" in checked.stdout and "--allow-plugins" in checked.stdout
    planned = mimo_bench("run", str(suite), "--dry-run", "--tracking-uri", tracking_uri, pythonpath=plugins)
    assert planned.returncode == 0, planned.stderr
    assert "mimo_side_effect:Marked/seed-0" in planned.stdout
    assert not (plugins / "executed").exists(), "check or --dry-run executed the suite's module"
    allowed = mimo_bench("check", str(suite), "--allow-plugins", pythonpath=plugins)
    assert allowed.returncode == 0 and "not imported" not in allowed.stdout
    assert (plugins / "executed").read_text() == "imported"


@pytest.mark.parametrize("command", [("check",), ("run", "--dry-run"), ("run",)])
def test_a_module_that_does_not_exist_fails_validation_in_one_line(tmp_path, tracking_uri, command):
    suite = write_suite(tmp_path, "typo", [{"name": "sum"}, {"name": "no_such_pkg_xyz.strategies:Thing"}])
    done = mimo_bench(*command, str(suite), *(["--tracking-uri", tracking_uri] if "run" in command else []))
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert str(suite) in line and "strategies[1].name" in line and "no_such_pkg_xyz.strategies" in line
    assert MlflowClient(tracking_uri).get_experiment_by_name("typo") is None


# -- item 16: passwords in tracking URIs -----------------------------------------------------------

PASSWORD = "pw-hunter2"


@pytest.fixture
def postgres_store_with_password(postgres_database):
    """A fresh database on the local PostgreSQL (trust auth: the dummy password is accepted and ignored)."""
    return f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{postgres_database('secret')}"


def test_the_password_of_a_tracking_uri_is_logged_nowhere(tmp_path, postgres_store_with_password, cache_dir):
    uri = postgres_store_with_password
    suite = write_suite(tmp_path, "hush", [{"name": "sum"}], tracking={"uri": uri})
    done = mimo_bench("run", str(suite), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    checked = mimo_bench("check", str(suite))
    assert "postgres:***@127.0.0.1" in checked.stdout and PASSWORD not in checked.stdout
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("hush")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2  # the parent and its one run
    for run in runs:
        logged = [*run.data.params.values(), *run.data.tags.values()]
        assert not [value for value in logged if PASSWORD in value], run.info.run_name
    (parent,) = [r for r in runs if r.data.tags.get("kind") == "suite"]
    assert parent.data.params["tracking.uri"] == uri.replace(f":{PASSWORD}@", ":***@")
    suite_toml = Path(client.download_artifacts(parent.info.run_id, "suite.toml", str(tmp_path)))
    assert "postgres:***@" in suite_toml.read_text() and PASSWORD not in suite_toml.read_text()


def test_an_unreachable_store_is_named_without_its_password(tmp_path):
    suite = write_suite(tmp_path, "away", [{"name": "sum"}])
    done = mimo_bench("run", str(suite), "--tracking-uri", "postgresql://me:hunter2@127.0.0.1:1/db", cwd=tmp_path)
    assert done.returncode == 2
    assert "postgresql://me:***@127.0.0.1:1/db" in done.stderr and "hunter2" not in done.stderr


# -- item 17: MLflow filter strings ---------------------------------------------------------------

AWKWARD = ["it's", 'say "hi"', "x' or tags.kind != '", 'y" or tags.kind != "', "back\\slash", "ünï-%_"]


def test_tag_filter_matches_exactly_the_tagged_value(tracking_uri):
    from benchmark.tracking.filters import tag_filter

    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("quotes")
    for value in AWKWARD:
        client.create_run(experiment_id, tags={"kind": "trial", "study": value})
    for value in AWKWARD:
        found = client.search_runs([experiment_id], tag_filter(kind="trial", study=value))
        assert [run.data.tags["study"] for run in found] == [value]


def test_a_label_and_a_suite_name_with_quotes_work_through_run_rerun_search_and_report(tmp_path, capsys, monkeypatch):
    """In this process (the commands' own processes are tested elsewhere): the quotes reach every filter string."""
    from benchmark.cli import main

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    search = {"strategies": ["it's"], "trials": 2, "pruner": "none"}
    strategies = [{"name": "sum"}, {"name": "gradnorm", "label": "it's"}]
    suite = str(write_suite(tmp_path, "bob's suite", strategies, search=search))

    def mimo_bench_here(*args: str) -> tuple[int, str]:
        status = main([*args, "--tracking-uri", uri])
        return status, capsys.readouterr().out

    assert mimo_bench_here("run", suite, "--no-progress")[0] == 0
    status, out = mimo_bench_here("run", suite, "--no-progress", "--dry-run")
    assert status == 0 and out.count("skip (finished earlier)") == 2, out
    status, out = mimo_bench_here("search", suite, "--no-progress")
    assert status == 0 and "bob's suite/it's: 2 trials done" in out, out
    status, out = mimo_bench_here("report", "bob's suite", "--no-log")
    assert status == 0 and "it's" in out, out


def test_a_label_with_a_double_quote_is_refused_in_one_line(tmp_path):
    suite = write_suite(tmp_path, "q", [{"name": "sum", "label": 'the "best"'}])
    done = mimo_bench("check", str(suite))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert str(suite) in line and "strategies[0].label" in line and '"' in line


# -- omniglot: check validates, load downloads -------------------------------------------------------


def test_check_of_an_omniglot_suite_with_download_fetches_nothing(tmp_path):
    root = tmp_path / "omniglot-data"
    problem = {"name": "omniglot", "root": str(root), "download": True}
    suite = write_suite(tmp_path, "omni", [{"name": "static", "weights": {"alphabet": 1.0, "character": 2.0}}], problem)
    done = mimo_bench("check", str(suite), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "omniglot" in done.stdout and not root.exists(), "check downloaded (or created the data folder)"


def test_an_omniglot_problem_with_download_set_knows_its_tasks_before_any_data(tmp_path):
    from benchmark.problems.omniglot import Omniglot

    problem = Omniglot(root=str(tmp_path / "not-yet"), download=True, mode="two_input")
    assert [(t.name, t.kind) for t in problem.tasks] == [("character", "classification")]
    assert not (tmp_path / "not-yet").exists()
