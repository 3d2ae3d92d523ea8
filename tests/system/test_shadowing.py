"""A user's own `benchmark/` or `strategies/` folder in the working directory never replaces ours in a worker."""

from __future__ import annotations

import os
import subprocess

from benchmark.suite.toml import to_toml
from tests.helpers import cli_command

BOGUS = "raise ImportError('the user\\'s own folder was imported instead of mimo-bench')\n"


def test_jobs_2_from_a_folder_holding_bogus_benchmark_and_strategies_packages(tmp_path, cache_dir, tracking_uri):
    work = tmp_path / "work"
    for package in ("benchmark", "strategies"):
        (work / package).mkdir(parents=True)
        (work / package / "__init__.py").write_text(BOGUS)
    suite = tmp_path / "shadow.toml"
    problem = {"name": "tabular", "samples": 600, "dim_a": 8, "dim_b": 4}
    strategies = [{"name": "sum"}, {"name": "normalized"}]
    suite.write_text(
        to_toml({"name": "shadow", "epochs": 1, "seeds": [0], "problem": problem, "strategies": strategies})
    )
    environment = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    done = subprocess.run(
        cli_command(suite, tracking_uri, "--jobs", "2"),
        cwd=work,
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "own folder" not in done.stdout + done.stderr
