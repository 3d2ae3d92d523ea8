"""The system tests' shared experiment: a tiny real suite trained once per session, and its report."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.report.analysis import make_report
from benchmark.suite.toml import to_toml
from benchmark.tracking.store import Tracker
from tests.conftest import dataset_cache

FLAKY_PLUGIN = '''
import torch
from benchmark.api.strategy import LossWeighting

class Flaky(LossWeighting):
    """Half weights; fails on its third step when trained with seed 1 (a real failing run)."""

    def combine(self, ctx):
        if ctx.step == 2 and torch.initial_seed() == 1:
            raise RuntimeError("flaky on seed 1")
        weights = {n: ctx.losses[n].new_tensor(0.5) for n in self.task_names}
        return sum(weights[n] * loss for n, loss in ctx.losses.items()), weights
'''


SUITE: dict[str, Path] = {}  # the suite file of `experiment`, for the test that runs it again


@pytest.fixture(scope="session")
def experiment(tmp_path_factory, _migrated_store) -> str:
    """2 strategies x 3 seeds, plus a plugin whose seed-1 run fails, and a static front of 3 trials; returns
    the tracking URI."""
    folder = tmp_path_factory.mktemp("report")
    store = folder / "mlflow.db"
    shutil.copy(_migrated_store, store)
    uri = f"sqlite:///{store}"
    (folder / "mimo_flaky_plugin.py").write_text(FLAKY_PLUGIN)
    suite = {
        "name": "report-tiny",
        "epochs": 3,
        "batch_size": 16,
        "seeds": [0, 1, 2],
        "problem": {
            "name": "glyphs",
            "alphabets": 2,
            "characters": 3,
            "samples": 12,
            "image_size": 16,
            "trajectory_length": 16,
        },
        "model": {"conv_channels": [4], "sequence_hidden": 8, "trunk": [16]},
        "strategies": [{"name": "sum"}, {"name": "normalized"}, {"name": "mimo_flaky_plugin:Flaky", "label": "flaky"}],
        "compare": {"static_front": {"trials": 3}},  # the tuned static-weights test: 3 more tiny runs
    }
    path = folder / "suite.toml"
    path.write_text(to_toml(suite))
    SUITE["path"] = path
    os.environ["MIMO_BENCH_CACHE"] = str(dataset_cache(tmp_path_factory))
    sys.path.insert(0, str(folder))
    try:
        assert main(["run", str(path), "--tracking-uri", uri, "--no-progress"]) == 1  # the flaky run failed
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("mimo_flaky_plugin", None)
    return uri


@pytest.fixture(scope="session")
def report(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-out")
    return make_report(Tracker(experiment), "report-tiny", out=out), out


@pytest.fixture
def shared(tmp_path, postgres_database):
    """(queue storage URL, tracking URI): an Optuna database and an `mlflow server` on another database."""
    from tests.system.test_cli import free_port
    from tests.system.test_store_outage import start_server, stop

    postgres = "postgresql://postgres@127.0.0.1:5432/{}"
    port = free_port()
    server = start_server(None, tmp_path / "artifacts", port, backend=postgres.format(postgres_database("mlflow")))
    yield postgres.format(postgres_database("queue")), f"http://127.0.0.1:{port}"
    stop(server)
