"""Optuna search on real storages and a real MLflow store: budgets, resume, Pareto sets, export."""

from __future__ import annotations

import optuna
import pytest
from mlflow import MlflowClient

from benchmark.queue.storages import open_storage
from benchmark.search.study import StudyRunner
from benchmark.suite.schema import load_suite
from benchmark.suite.toml import to_toml
from benchmark.tracking.filters import tag_filter
from tests.helpers import COMMAND, wait_for

pytestmark = pytest.mark.slow

PROBLEM = {"name": "tabular", "samples": 600, "dim_a": 20, "dim_b": 10}


def write_suite(directory, tracking_uri, search: dict, epochs: int = 2, name: str = "search"):
    path = directory / f"{name}.toml"
    suite = {
        "name": name,
        "epochs": epochs,
        "batch_size": 32,
        "seeds": [0],
        "problem": PROBLEM,
        "tracking": {"uri": tracking_uri},
        "strategies": [{"name": "static", "weights": {"label": 1.0, "price": 1.0}}, {"name": "gradnorm"}],
        "search": search,
    }
    path.write_text(to_toml(suite))
    return path


def trial_runs(client: MlflowClient, experiment: str, study: str):
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], tag_filter(kind="trial", study=study))


def test_single_objective_study_is_tracked_and_resumes_to_its_budget(tmp_path, tracking_uri):
    storage = f"journal:{tmp_path / 'studies.journal'}"
    search = {
        "strategies": ["gradnorm"],
        "trials": 3,
        "objective": "joint",
        "space": {"gradnorm": {"alpha": [0.5, 2.0]}},
    }
    suite = load_suite(write_suite(tmp_path, tracking_uri, search))
    (result,) = StudyRunner(suite, storage, show_progress=False).run()
    assert result.trials == 3 and len(result.best) == 1

    client = MlflowClient(tracking_uri)
    runs = trial_runs(client, "search", "search/gradnorm")
    assert sorted(int(r.data.tags["trial"]) for r in runs) == [0, 1, 2]
    for run in runs:
        assert 0.5 <= float(run.data.params["strategy.alpha"]) <= 2.0  # the narrowed space
        assert run.data.tags["optuna_state"] in ("COMPLETE", "PRUNED")
        assert "val/label/accuracy" in run.data.metrics and "train/price/loss" in run.data.metrics
        if run.data.tags["optuna_state"] == "COMPLETE":
            assert run.info.status == "FINISHED" and "test/price/mae" in run.data.metrics
        else:
            assert run.info.status == "KILLED" and "pruned" in run.data.tags["stopped"]
    (parent,) = client.search_runs([runs[0].info.experiment_id], "tags.kind = 'study'")
    assert runs[0].data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.data.params["sampler"] == "tpe" and parent.data.params["trials"] == "3"
    assert parent.data.tags["best_trials"] == str(result.best[0].number)
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "trials.csv",
        "best_trials.csv",
        "trials.png",
    }
    baselines = client.search_runs([runs[0].info.experiment_id], "tags.strategy = 'sum'")
    assert len(baselines) == 1  # the joint objective's reference run

    (again,) = StudyRunner(suite, storage, show_progress=False).run()  # same command: budget already met
    assert again.trials == 3 and len(trial_runs(client, "search", "search/gradnorm")) == 3
    study = optuna.load_study(study_name="search/gradnorm", storage=open_storage(storage))
    assert len(study.trials) == 3

    exported = tmp_path / "best.toml"
    StudyRunner(suite, storage, show_progress=False).export_suite(again, exported)
    best_suite = load_suite(exported)
    assert [s.label for s in best_suite.strategies] == ["sum", "gradnorm-best"]
    assert best_suite.strategies[1].params["alpha"] == result.best[0].params["strategy.alpha"]
    assert best_suite.seeds == (0, 1, 2) and best_suite.search is None


def test_multi_objective_study_gives_a_non_dominated_pareto_set(tmp_path, tracking_uri):
    storage = f"journal:{tmp_path / 'studies.journal'}"
    search = {"strategies": ["static"], "trials": 5, "objective": "pareto"}
    suite = load_suite(write_suite(tmp_path, tracking_uri, search, epochs=1))
    (result,) = StudyRunner(suite, storage, show_progress=False).run()
    study = optuna.load_study(study_name="search/static", storage=open_storage(storage))
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 5 and result.best

    def dominates(a, b) -> bool:  # label accuracy up, price MAE down
        return a.values[0] >= b.values[0] and a.values[1] <= b.values[1] and a.values != b.values

    pareto = {t.number for t in result.best}
    for trial in complete:
        dominated = any(dominates(other, trial) for other in complete)
        assert dominated == (trial.number not in pareto)  # non-dominated and complete, by brute force
    runs = trial_runs(MlflowClient(tracking_uri), "search", "search/static")
    assert len(runs) == 5 and all(r.info.status == "FINISHED" for r in runs)


def test_killed_study_resumes_to_exactly_its_budget(tmp_path, tracking_uri, cache_dir):
    import os
    import subprocess

    storage = f"journal:{tmp_path / 'studies.journal'}"
    search = {"strategies": ["static"], "trials": 6, "objective": "val/label/accuracy", "pruner": "none"}
    suite = write_suite(tmp_path, tracking_uri, search, epochs=4, name="killed-search")
    command = [COMMAND, "search", str(suite), "--storage", storage, "--no-progress"]
    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    client = MlflowClient(tracking_uri)

    def some_done() -> bool:
        experiment = client.get_experiment_by_name("killed-search")
        if experiment is None:
            return False
        runs = client.search_runs([experiment.experiment_id], "tags.kind = 'trial'")
        done = [r for r in runs if r.info.status == "FINISHED"]
        training = [r for r in runs if r.info.status == "RUNNING"]
        return len(done) >= 2 and bool(training)

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(some_done, process)
    process.kill()
    process.wait()
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr

    study = optuna.load_study(study_name="killed-search/static", storage=open_storage(storage))
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 6
    assert states.count(optuna.trial.TrialState.FAIL) == 1 and optuna.trial.TrialState.RUNNING not in states
    runs = trial_runs(client, "killed-search", "killed-search/static")
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert len(finished) == 6 and len({r.data.tags["trial"] for r in finished}) == 6
    (failed,) = [r for r in runs if r.info.status == "FAILED"]
    assert "interrupted" in failed.data.tags["failure_reason"]


def search_suite_for_workers(tmp_path, tracking_uri, trials: int = 4):
    search = {"strategies": ["static"], "trials": trials, "objective": "val/label/accuracy", "pruner": "none"}
    return write_suite(tmp_path, tracking_uri, search, epochs=2, name="parallel")


def check_budget_met_once(storage: str, tracking_uri: str, trials: int) -> set[str]:
    """Exactly ``trials`` complete trials, each logged by exactly one finished MLflow run; returns the owners."""
    study = optuna.load_study(study_name="parallel/static", storage=open_storage(storage))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == trials
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in study.trials)
    assert all("surplus" in t.user_attrs for t in study.trials if t.state == optuna.trial.TrialState.FAIL)
    runs = trial_runs(MlflowClient(tracking_uri), "parallel", "parallel/static")
    numbers = sorted(int(r.data.tags["trial"]) for r in runs)
    assert numbers == sorted(t.number for t in complete), "one run per trial, none twice, none lost"
    assert all(r.info.status == "FINISHED" for r in runs)
    return {r.data.tags["owner"] for r in runs}


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_jobs_on_an_embedded_storage_share_the_budget(kind, tmp_path, tracking_uri, cache_dir):
    import os
    import subprocess

    storage = f"journal:{tmp_path / 'studies.journal'}" if kind == "journal" else f"sqlite:///{tmp_path / 'optuna.db'}"
    suite = search_suite_for_workers(tmp_path, tracking_uri, trials=6)
    command = [COMMAND, "search", str(suite), "--storage", storage, "--jobs", "2", "--no-progress"]
    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    coordinator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, err = coordinator.communicate(timeout=600)
    assert coordinator.returncode == 0, err
    owners = check_budget_met_once(storage, tracking_uri, 6)
    pids = {owner.rpartition(":")[2] for owner in owners}
    assert 1 <= len(pids) <= 2 and str(coordinator.pid) not in pids, "trials run in the worker processes"
    client = MlflowClient(tracking_uri)  # the search ends with the report, logged on its study run
    (study,) = client.search_runs([client.get_experiment_by_name("parallel").experiment_id], "tags.kind = 'study'")
    assert "report" in {a.path for a in client.list_artifacts(study.info.run_id)}
    assert "of 6 points (every finished run and search trial)" in study.data.tags["mlflow.note.content"]


@pytest.fixture
def postgres_databases(postgres_database):
    """Two fresh databases (Optuna's and MLflow's) on the machine's PostgreSQL, dropped afterwards."""
    return [f"postgresql://postgres@127.0.0.1:5432/{postgres_database(kind)}" for kind in ("optuna", "mlflow")]


def test_workers_on_postgres_and_an_mlflow_server_meet_the_budget_exactly(tmp_path, postgres_databases, cache_dir):
    import os
    import subprocess

    from tests.system.test_cli import free_port
    from tests.system.test_store_outage import start_server, stop

    optuna_url, mlflow_url = postgres_databases
    port = free_port()
    server = start_server(mlflow_url, tmp_path / "artifacts", port, backend=mlflow_url)
    tracking_uri = f"http://127.0.0.1:{port}"
    try:
        suite = search_suite_for_workers(tmp_path, tracking_uri, trials=5)
        command = [COMMAND, "worker", str(suite), "--storage", optuna_url, "--threads", "1", "--no-progress"]
        env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
        workers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
        errors = [w.communicate(timeout=600)[1] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], errors
        check_budget_met_once(optuna_url, tracking_uri, 5)
        studies = MlflowClient(tracking_uri).search_runs(
            [MlflowClient(tracking_uri).get_experiment_by_name("parallel").experiment_id], "tags.kind = 'study'"
        )
        assert len(studies) == 1 and studies[0].info.status == "FINISHED"
    finally:
        stop(server)
