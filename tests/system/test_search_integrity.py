"""Search results a researcher can trust: namespaced parameters and what --export-suite rebuilds from them,
a bound on failing trials, and trials or trial runs left behind by a dead process (real stores)."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
import tomllib

import optuna
import pytest
from mlflow import MlflowClient

from benchmark.api.errors import MimoBenchError
from benchmark.queue.storages import open_storage
from benchmark.search.study import StudyRunner
from benchmark.suite.schema import load_suite
from tests.conftest import ROOT
from tests.system.test_search import trial_runs, write_suite

pytestmark = pytest.mark.slow

ONE_METRIC = {"objective": "val/label/accuracy", "pruner": "none"}


@pytest.mark.parametrize(
    ("sampled", "optimizer_names"),
    [
        ({"search_lr": True}, {"optimizer.lr"}),
        ({"search_lr": False}, set()),
        (
            {"optimizer_space": {"schedule": ["constant", "cosine"], "weight_decay": [0.0, 0.01]}},
            {"optimizer.schedule", "optimizer.weight_decay"},
        ),
    ],
)
def test_exported_suite_rebuilds_every_value_from_the_best_trial(sampled, optimizer_names, tmp_path, tracking_uri):
    storage = f"journal:{tmp_path / 'studies.journal'}"
    search = {"strategies": ["gradnorm"], "trials": 2, **sampled, **ONE_METRIC}
    suite = load_suite(write_suite(tmp_path, tracking_uri, search, epochs=1))
    frozen = copy.deepcopy(suite.resolved())
    runner = StudyRunner(suite, storage, show_progress=False)
    (result,) = runner.run()
    best = result.best[0].params
    assert set(best) == {"strategy.alpha", "strategy.lr"} | optimizer_names  # strategy and network never share a name
    drawn = {name.removeprefix("optimizer."): best[name] for name in optimizer_names}

    exported = tmp_path / "best.toml"
    runner.export_suite(result, exported)
    assert suite.resolved() == frozen, "exporting changed the searched suite"
    written = tomllib.loads(exported.read_text())
    assert written["optimizer"] == {**frozen["optimizer"], **drawn}
    sum_entry, winner = written["strategies"]
    assert sum_entry == {"name": "sum"}  # the baseline gets no strategy parameter
    assert winner == {
        "name": "gradnorm",
        "label": "gradnorm-best",
        "alpha": best["strategy.alpha"],
        "lr": best["strategy.lr"],
    }
    assert written["name"] == "search-best" and written["seeds"] == [0, 1, 2] and "search" not in written
    rest = {k: v for k, v in frozen.items() if k not in ("name", "seeds", "optimizer", "strategies", "search")}
    assert {k: written[k] for k in rest} == rest
    load_suite(exported)  # and it is a valid suite

    client = MlflowClient(tracking_uri)
    trials = {
        t.number: t for t in optuna.load_study(study_name="search/gradnorm", storage=open_storage(storage)).trials
    }
    for run in trial_runs(client, "search", "search/gradnorm"):
        params, trial = run.data.params, trials[int(run.data.tags["trial"])]
        assert float(params["strategy.lr"]) == pytest.approx(trial.params["strategy.lr"])
        for key in ("lr", "schedule", "weight_decay"):  # what the trial trained with, as it drew it
            want = trial.params.get(f"optimizer.{key}", frozen["optimizer"][key])
            assert params[f"optimizer.{key}"] == str(want) or float(params[f"optimizer.{key}"]) == pytest.approx(want)
    (study,) = client.search_runs([run.info.experiment_id], "tags.kind = 'study'")
    logged = {k: v for k, v in study.data.tags.items() if k.startswith("best.")}
    assert float(logged.pop("best.value")) == pytest.approx(result.best[0].value)
    assert logged == {f"best.{k}": str(v) for k, v in best.items()}


def test_a_study_whose_trials_keep_failing_stops_at_max_failed(tmp_path, tracking_uri):
    storage = f"journal:{tmp_path / 'studies.journal'}"
    path = write_suite(tmp_path, tracking_uri, {"strategies": ["explodes"], "trials": 2, **ONE_METRIC}, epochs=1)
    text = path.read_text().replace(
        'name = "gradnorm"', 'name = "tests.search_plugins:ExplodesAtStepZero"\nlabel = "explodes"'
    )
    path.write_text(text)
    suite = load_suite(path)
    assert suite.search.max_failed == 4  # default: twice the budget
    started = time.monotonic()
    with pytest.raises(MimoBenchError) as raised:
        StudyRunner(suite, storage, show_progress=False).run()
    assert time.monotonic() - started < 60
    message = str(raised.value)
    assert "\n" not in message and "max_failed" in message and "exploded at step 0" in message
    study = optuna.load_study(study_name="search/explodes", storage=open_storage(storage))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 4
    runs = trial_runs(MlflowClient(tracking_uri), "search", "search/explodes")
    assert len(runs) == 4 and all(r.info.status == "FAILED" for r in runs)


def test_max_failed_must_be_a_positive_integer(tmp_path, tracking_uri):
    path = write_suite(tmp_path, tracking_uri, {"strategies": ["gradnorm"], "max_failed": 0})
    with pytest.raises(MimoBenchError, match=r"search\.max_failed.*positive integer"):
        load_suite(path)


def die_then_resume(tmp_path, tracking_uri, points: list[str], storage: str, trials: int = 2) -> optuna.Study:
    """Run the search in processes that die at each of ``points`` in turn, then once to the end here."""
    suite = write_suite(tmp_path, tracking_uri, {"strategies": ["static"], "trials": trials, **ONE_METRIC}, epochs=1)
    for point in points:
        died = subprocess.run(
            [sys.executable, "-m", "tests.search_plugins", point, str(suite), storage],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert died.returncode == 9, died.stderr
    (result,) = StudyRunner(load_suite(suite), storage, show_progress=False).run()
    assert result.trials == trials
    return optuna.load_study(study_name="search/static", storage=open_storage(storage))


def check_nothing_left_running(study: optuna.Study, tracking_uri: str, trials: int) -> None:
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == trials and optuna.trial.TrialState.RUNNING not in states
    runs = trial_runs(MlflowClient(tracking_uri), "search", "search/static")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    finished = sorted(int(r.data.tags["trial"]) for r in runs if r.info.status == "FINISHED")
    assert finished == sorted(t.number for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
@pytest.mark.parametrize("point", ["run_id", "tell"])
def test_a_trial_its_dead_process_never_finished_leaves_the_budget(point, kind, tmp_path, tracking_uri):
    storage = f"journal:{tmp_path / 'studies.journal'}" if kind == "journal" else f"sqlite:///{tmp_path / 'optuna.db'}"
    study = die_then_resume(tmp_path, tracking_uri, [point], storage)
    check_nothing_left_running(study, tracking_uri, 2)
    if point == "tell":  # its run finished: the trial counts, with the value that run logged
        (told,) = [t for t in study.trials if t.number == 0]
        assert told.state == optuna.trial.TrialState.COMPLETE
    else:
        assert study.trials[0].state == optuna.trial.TrialState.FAIL


def test_a_trial_run_hit_while_being_retired_is_retired_next_time(tmp_path, tracking_uri):
    study = die_then_resume(tmp_path, tracking_uri, ["epoch", "retire"], f"journal:{tmp_path / 'studies.journal'}")
    check_nothing_left_running(study, tracking_uri, 2)
    runs = trial_runs(MlflowClient(tracking_uri), "search", "search/static")
    (retired,) = [r for r in runs if r.data.tags["trial"] == "0"]
    assert retired.info.status == "FAILED" and "interrupted" in retired.data.tags["failure_reason"]
