"""The installed `mimo-bench` command: help, listings, and the MLflow UI on a real store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmark.api.registry import STRATEGIES

COMMAND = str(Path(sys.executable).parent / "mimo-bench")


def test_help_answers_without_importing_torch_or_mlflow():
    probe = (
        "import sys; from benchmark.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "print('torch' in sys.modules, 'mlflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "run" in result.stdout and "strategies" in result.stdout and "ui" in result.stdout
    assert result.stdout.strip().endswith("False False")


def test_the_runner_imports_torchmetrics_only_when_a_run_is_evaluated():
    """A suite invocation that only plans, skips finished runs or waits for other workers does not pay for
    torchmetrics (torchvision and scipy, about 3 s)."""
    probe = "import sys, benchmark.run.runner, benchmark.cli.run; print('torchmetrics' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False"]


def test_strategies_lists_every_strategy_with_its_doc_and_options():
    result = subprocess.run([COMMAND, "strategies"], capture_output=True, text=True, check=True)
    for name in STRATEGIES.names():
        cls = STRATEGIES.get(name)
        assert f"{name} " in result.stdout and cls.summary() in result.stdout
    assert "alpha=1.5" in result.stdout  # options with their defaults
    assert "weights" in result.stdout


def test_check_lists_the_runs_without_training(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('name = "c"\nseeds = [0, 1]\n[problem]\nname = "tabular"\n[[strategies]]\nname = "sum"\n')
    result = subprocess.run([COMMAND, "check", str(suite)], capture_output=True, text=True, check=True)
    assert "2 run(s)" in result.stdout and "sum/seed-0" in result.stdout and "sum/seed-1" in result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_ui_serves_the_store_on_loopback(tracking_uri):
    from mlflow import MlflowClient

    MlflowClient(tracking_uri).create_experiment("visible-in-ui")
    port = free_port()
    server = subprocess.Popen(
        [COMMAND, "ui", "--tracking-uri", tracking_uri, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                url = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
                with urllib.request.urlopen(url, timeout=2) as response:
                    names = {e["name"] for e in json.load(response)["experiments"]}
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the UI did not answer within 90 s"
                time.sleep(0.5)
        assert "visible-in-ui" in names
        with open(f"/proc/{server.pid}/cmdline", "rb") as cmdline:  # `ps` shows it to every user
            assert tracking_uri.encode() not in cmdline.read(), (
                "the store's URI (and so its password) on the command line"
            )
        with socket.socket() as other:  # bound to loopback only: not on the machine's other addresses
            address = socket.gethostbyname(socket.gethostname())
            if not address.startswith("127."):
                assert other.connect_ex((address, port)) != 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
