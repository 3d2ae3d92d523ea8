"""`mimo-bench perf`: every section runs end to end, and its loops train the same net on the same data."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from benchmark.cli import main
from benchmark.perf.loops import FloorLoop, HarnessLoop, LoopSetup, PngDataset, SeedsLoop, write_pngs
from benchmark.suite.schema import load_suite

TINY_SUITE = """
name = "perf-tiny"
epochs = 1
batch_size = 8
seeds = [0]

[problem]
name = "glyphs"
alphabets = 2
characters = 3
samples = 8
image_size = 16
trajectory_length = 12

[model]
conv_channels = [4]
sequence_hidden = 8
trunk = [16]

[[strategies]]
name = "sum"

[[strategies]]
name = "gradnorm"
"""


@pytest.fixture
def tiny_suite(tmp_path) -> Path:
    path = tmp_path / "perf_tiny.toml"
    path.write_text(TINY_SUITE)
    return path


def test_perf_prints_every_section_with_ratios_and_target_checks(tiny_suite, capsys):
    assert main(["perf", str(tiny_suite), "--rounds", "2", "--steps", "2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for case in (
        "floor: bare loop, batches in memory",
        "seeds' loop: PNG files + DataLoader",
        "mimo-bench epoch, tracking on",
        "mimo-bench epoch, tracking off",
        "speedup: seeds' loop / mimo-bench epoch",
        "tracking on / tracking off",
    ):
        row = next(line for line in out.splitlines() if line.startswith(case))
        ratio, low, high = (float(v) for v in re.findall(r"\d+\.\d{3}", row)[-3:])
        assert 0 < low <= ratio <= high, row
    assert re.search(r"^floor: bare loop.* 1\.000 +\[1\.000, 1\.000\]$", out, re.MULTILINE)
    assert re.search(r"mimo-bench epoch, tracking on .*<= 1\.1: (met|NOT met)$", out, re.MULTILINE)
    assert re.search(r"^gradnorm .*<= 1\.25: (met|NOT met)$", out, re.MULTILINE)
    assert "36 train samples (5 batches of 8)" in out
    peak = re.search(r"peak RSS of one `mimo-bench run` .*: (\d+\.\d\d) GB; target <= 1\.5 GB: (met|NOT met)", out)
    assert peak and 0.05 < float(peak.group(1)) < 8


def test_perf_refuses_an_unknown_section_before_measuring(tiny_suite, capsys):
    assert main(["perf", str(tiny_suite), "--only", "loops,speed"]) == 2
    assert "perf --only 'loops,speed': choose from loops, strategies, memory" in capsys.readouterr().err


def test_loops_start_from_the_same_net_and_train_it_on_the_same_data(tiny_suite, tmp_path):
    setup = LoopSetup.from_suite(load_suite(tiny_suite))
    floor, seeds = FloorLoop(setup), SeedsLoop(setup, tmp_path / "png")
    harness = HarnessLoop(setup, f"sqlite:///{tmp_path / 'mlflow.db'}")
    start = floor.model.state_dict()
    for model in (seeds.model, harness.trainer.model):
        assert all(torch.equal(start[k], v) for k, v in model.state_dict().items())
    losses = {name: loop.epoch() for name, loop in (("floor", floor), ("seeds", seeds), ("harness", harness))}
    assert all(math.isfinite(v) and v > 0 for v in losses.values()), losses
    # the floor and mimo-bench's epoch see the same batches in the same order: the same losses up to rounding
    assert losses["harness"] == pytest.approx(losses["floor"], rel=1e-4)
    assert harness.log is not None and harness.log.client.get_run(harness.log.run_id).data.tags["checkpoint_epoch"]


def test_png_round_trip_gives_back_the_in_memory_pixels(tiny_suite, tmp_path):
    train = LoopSetup.from_suite(load_suite(tiny_suite)).data.train
    dataset = PngDataset(train, write_pngs(train, ["image"], tmp_path), image_size=16)
    for index in range(len(train)):
        inputs, targets = dataset[index]
        assert torch.equal(inputs["image"], train.inputs["image"][index].float() / 255)
        assert torch.equal(inputs["trajectory"], train.inputs["trajectory"][index])
        assert all(torch.equal(targets[name], value[index]) for name, value in train.targets.items())


def test_loops_refuse_a_problem_without_images(tmp_path):
    from benchmark.api.errors import MimoBenchError

    path = tmp_path / "tabular.toml"
    path.write_text('name = "t"\nepochs = 1\n[problem]\nname = "tabular"\nsamples = 40\n[[strategies]]\nname = "sum"\n')
    with pytest.raises(MimoBenchError, match="no 1- or 3-channel image input; leave 'loops' out of --only"):
        SeedsLoop(LoopSetup.from_suite(load_suite(path)), tmp_path / "png")


def test_perf_jobs_section_times_a_suite_with_jobs_1_and_2(tiny_suite, cache_dir):
    import os
    import subprocess

    from tests.helpers import COMMAND

    env = {**os.environ, "MIMO_BENCH_CACHE": str(cache_dir)}
    done = subprocess.run(
        [COMMAND, "perf", str(tiny_suite), "--only", "jobs", "--rounds", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "2 strategies x seeds [0, 1], 1 epochs each" in done.stdout
    (line,) = [row for row in done.stdout.splitlines() if row.startswith("--jobs 2")]
    seconds, ratio = (float(value) for value in line.split()[2:4])
    assert seconds > 0 and ratio > 0 and ("met" in line)
