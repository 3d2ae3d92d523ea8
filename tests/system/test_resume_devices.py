"""A run checkpointed on a CUDA machine resumes on a CPU-only one; a CUDA run resumes its CUDA random stream."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest
import torch
from mlflow import MlflowClient

from benchmark.tracking.runlog import CHECKPOINT_ARTIFACT
from tests.helpers import cli_command, nested_runs, run_cli, wait_for
from tests.system.test_reliability import STRATEGY_ENTRIES, write_suite

pytestmark = pytest.mark.slow

# `mimo-bench run` in a process whose torch.save tags every storage as saved on 'cuda:0'
SAVED_ON_CUDA = """
import sys
import torch
from benchmark.cli import main

torch.serialization.register_package(0, lambda storage: 'cuda:0', lambda storage, location: None)
sys.argv = ['mimo-bench', *sys.argv[1:]]
sys.exit(main())
"""


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows a CPU-only machine resuming a CUDA checkpoint")
def test_a_run_checkpointed_on_cuda_resumes_on_a_cpu_only_machine(tmp_path, tracking_uri, cache_dir):
    suite = write_suite(tmp_path, "devices", strategies=STRATEGY_ENTRIES[2:], epochs=8)
    client = MlflowClient(tracking_uri)

    def checkpointed() -> bool:
        experiment = client.get_experiment_by_name("devices")
        runs = nested_runs(client, experiment.experiment_id) if experiment else []
        return any(int(r.data.tags.get("checkpoint_epoch", 0)) >= 1 for r in runs)

    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    command = [sys.executable, "-c", SAVED_ON_CUDA, *cli_command(suite, tracking_uri)[1:]]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(checkpointed, process)
    process.terminate()
    assert process.wait(timeout=60) == 130, process.stderr.read()
    (killed,) = nested_runs(client, client.get_experiment_by_name("devices").experiment_id)
    with tempfile.TemporaryDirectory() as directory:
        path = client.download_artifacts(killed.info.run_id, CHECKPOINT_ARTIFACT, directory)
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # the file really is a CUDA checkpoint

    again = run_cli(suite, tracking_uri, cache_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = client.get_run(killed.info.run_id)
    assert resumed.info.status == "FINISHED"
    assert int(resumed.data.tags["resumed_from_epoch"]) >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_run_resumes_its_cuda_random_stream():
    from benchmark.api.registry import PROBLEMS, STRATEGIES
    from benchmark.train.model import ModelConfig
    from benchmark.train.trainer import TrainConfig, Trainer

    data = PROBLEMS.get("tabular")(samples=200, dim_a=8, dim_b=4).load(0)
    config = TrainConfig(1, 16, 1e-3, device="cuda")
    trainer = Trainer(data, ModelConfig(), lambda tasks: STRATEGIES.get("sum")(tasks), config)
    state = trainer.state_dict()
    expected = torch.rand(4, device="cuda")
    torch.cuda.manual_seed_all(12345)
    trainer.load_state_dict(state)
    assert torch.equal(torch.rand(4, device="cuda"), expected)
