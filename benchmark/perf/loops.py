"""`mimo-bench perf` loops: the bare-loop floor, the seeds' PNG DataLoader and mimo-bench's own epoch.

Every loop trains the suite's net from the same initial weights for one epoch of the train split
with a plain sum of the task losses and Adam; `benchmark.perf.timed_rounds` interleaves them.
Whole suites (peak memory, `--jobs` wall time) are timed as real `mimo-bench run` subprocesses.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import ProblemData, Split
from benchmark.api.registry import PROBLEMS, STRATEGIES, baseline_strategy
from benchmark.perf.settings import FLOOR, SEEDS, TRACKED, UNTRACKED
from benchmark.perf.timing import timed_rounds
from benchmark.run.progress import SuiteProgress
from benchmark.run.runner import model_config, resolve_device
from benchmark.suite.schema import Suite
from benchmark.suite.toml import to_toml
from benchmark.tracking.store import Tracker
from benchmark.train.metrics import task_loss
from benchmark.train.model import MimoNet, ModelConfig
from benchmark.train.trainer import TrainConfig, Trainer, to_device

PNG_MODES = {1: "L", 3: "RGB"}  # image channels -> the PIL mode its PNG is written in


@dataclass
class LoopSetup:
    """What every loop shares: the data, the net's widths and the optimisation settings."""

    data: ProblemData
    model_config: ModelConfig
    lr: float
    batch_size: int
    seed: int
    device: torch.device

    @classmethod
    def from_suite(cls, suite: Suite, fraction: float = 1.0) -> LoopSetup:
        """The suite's problem (first seed's split), every split cut to ``fraction`` of its samples, evenly spread."""
        seed = suite.seeds[0]
        data = PROBLEMS.get(suite.problem)(**suite.problem_options).load(seed)
        if fraction < 1.0:
            cut = {name: _evenly(getattr(data, name), fraction) for name in ("train", "val", "test")}
            data = dataclasses.replace(data, **cut)
        device = torch.device(resolve_device(suite.device))
        return cls(data, model_config(suite), suite.optimizer["lr"], suite.batch_size, seed, device)

    def net(self) -> MimoNet:
        """The suite's net with the same initial weights every call (as the Trainer seeds it)."""
        torch.manual_seed(self.seed)
        return MimoNet(self.data.inputs, self.data.tasks, self.model_config).to(self.device)

    @property
    def batches(self) -> int:
        return -(-len(self.data.train) // self.batch_size)


def _evenly(split: Split, fraction: float) -> Split:
    count = max(1, round(len(split) * fraction))
    return split.subset(torch.arange(count) * len(split) // count)


class _PlainLoop:
    """The suite's net, Adam and the plain sum of task losses; `epoch` runs over ``_batches()``."""

    def __init__(self, setup: LoopSetup):
        self.setup = setup
        self.model = setup.net()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=setup.lr)

    def train_step(self, inputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        outputs = self.model(inputs)
        loss = sum(task_loss(task, outputs[task.name], targets[task.name]) for task in self.setup.data.tasks)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def epoch(self) -> float:
        """One epoch; returns its mean total loss."""
        total, steps = torch.zeros((), device=self.setup.device), 0
        for inputs, targets in self._batches():
            total += self.train_step(inputs, targets)
            steps += 1
        return float(total) / steps

    def _batches(self) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
        raise NotImplementedError


class FloorLoop(_PlainLoop):
    """The floor: forward, backward and Adam step on batches sliced once, in memory, before timing."""

    def __init__(self, setup: LoopSetup):
        super().__init__(setup)
        train = to_device(setup.data.train, setup.device)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(setup.seed)).to(setup.device)
        self.batch_list = [
            train.subset(order[start : start + setup.batch_size]) for start in range(0, len(train), setup.batch_size)
        ]

    def _batches(self) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
        return ((batch.inputs, batch.targets) for batch in self.batch_list)


class PngDataset(torch.utils.data.Dataset):
    """The seeds' way: each item opens its PNG with PIL, resizes and converts it; other inputs come from memory."""

    def __init__(self, split: Split, files: dict[str, list[Path]], image_size: int):
        self.split, self.files = split, files
        self.transform = transforms.Compose([transforms.Resize((image_size, image_size)), transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        inputs = {}
        for name, tensor in self.split.inputs.items():
            if name in self.files:
                with Image.open(self.files[name][index]) as image:
                    inputs[name] = self.transform(image.convert(PNG_MODES[tensor.shape[1]]))
            else:
                inputs[name] = tensor[index]
        return inputs, {name: tensor[index] for name, tensor in self.split.targets.items()}


def write_pngs(split: Split, image_inputs: list[str], folder: Path) -> dict[str, list[Path]]:
    """Every image of ``split`` as one PNG file under ``folder/<input>/``; the file lists per input."""
    files: dict[str, list[Path]] = {}
    for name in image_inputs:
        (folder / name).mkdir(parents=True, exist_ok=True)
        files[name] = []
        for index, pixels in enumerate(split.inputs[name]):
            path = folder / name / f"{index:06d}.png"
            array = pixels.numpy()
            Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)).save(path)
            files[name].append(path)
    return files


class SeedsLoop(_PlainLoop):
    """The seeds' loop: a shuffling `DataLoader` over `PngDataset` (PNG files written once, untimed)."""

    def __init__(self, setup: LoopSetup, folder: Path):
        super().__init__(setup)
        images = [spec for spec in setup.data.inputs if spec.kind == "image"]
        if not images or any(spec.shape[0] not in PNG_MODES for spec in images):
            raise MimoBenchError(
                "perf: the seeds' loop reads images from PNG files, but this suite's problem has no 1- or 3-channel "
                "image input; leave 'loops' out of --only (e.g. --only strategies)"
            )
        files = write_pngs(setup.data.train, [spec.name for spec in images], folder)
        dataset = PngDataset(setup.data.train, files, images[0].shape[-1])
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_size=setup.batch_size, shuffle=True, generator=torch.Generator().manual_seed(setup.seed)
        )

    def _batches(self) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
        device = self.setup.device
        for inputs, targets in self.loader:
            yield {k: v.to(device) for k, v in inputs.items()}, {k: v.to(device) for k, v in targets.items()}


class HarnessLoop:
    """mimo-bench's epoch: `Trainer.train_epoch` with `sum`, then (tracking on) the runner's per-epoch writes."""

    def __init__(self, setup: LoopSetup, tracking_uri: str | None):
        baseline = baseline_strategy()
        sum_strategy = STRATEGIES.get(baseline)
        config = TrainConfig(1, setup.batch_size, setup.lr, seed=setup.seed, device=str(setup.device))
        self.trainer = Trainer(setup.data, setup.model_config, sum_strategy, config)
        self.progress = SuiteProgress(1, enabled=False)  # what `run --no-progress` calls every batch
        self.progress.start_run("perf", 1, setup.batches)
        self.log = None
        if tracking_uri:
            tracker = Tracker(tracking_uri)
            self.log = tracker.start_run(tracker.experiment("perf"), baseline, {"strategy": baseline}, {})

    def epoch(self) -> float:
        """One epoch as the runner trains it; returns its mean total training loss."""
        metrics = self.trainer.train_epoch(self.progress.batch)
        if self.log:
            self.log.end_epoch(metrics, self.trainer.epoch, self.trainer.state_dict)
        return sum(metrics[f"train/{name}/loss"] for name in self.trainer.names)


def compare_loops(setup: LoopSetup, rounds: int, folder: Path) -> dict[str, list[float]]:
    """Seconds per epoch of each loop, round by round, interleaved (PNGs and the store go under ``folder``)."""
    loops = {
        FLOOR: FloorLoop(setup),
        SEEDS: SeedsLoop(setup, folder / "png"),
        TRACKED: HarnessLoop(setup, f"sqlite:///{folder / 'mlflow.db'}"),
        UNTRACKED: HarnessLoop(setup, None),
    }
    return timed_rounds({name: functools.partial(timed, loop.epoch) for name, loop in loops.items()}, rounds)


def timed(epoch: Callable[[], float]) -> float:
    """Seconds of one call of ``epoch`` (which ends on a host read of its loss, so CUDA work is done)."""
    started = time.perf_counter()
    epoch()
    return time.perf_counter() - started


@dataclass
class SuiteRun:
    """What one `mimo-bench run` subprocess took."""

    seconds: float  # wall time, start-up and report included
    peak_rss: int  # bytes, of the parent process (its --jobs workers not included)


def run_suite(document: dict, folder: Path, *options: str) -> SuiteRun:
    """`mimo-bench run` on the suite ``document`` in a subprocess, on a fresh SQLite store in a new folder under ``folder``."""
    folder = Path(tempfile.mkdtemp(dir=folder))
    path = folder / "suite.toml"
    path.write_text(to_toml({**document, "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}"}}))
    log = folder / "run.log"
    with log.open("w") as output:
        command = [sys.executable, "-P", "-m", "benchmark.cli", "run", str(path), "--no-progress", *options]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    if (code := os.waitstatus_to_exitcode(status)) != 0:
        raise MimoBenchError(
            f"perf: `mimo-bench run {path} {' '.join(options)}` exited {code}: {log.read_text()[-2000:]}"
        )
    return SuiteRun(seconds, usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024))


def peak_memory(suite: Suite, folder: Path) -> int:
    """Peak RSS in bytes of one real `mimo-bench run`: the suite's first strategy and seed, 1 epoch."""
    first = suite.resolved()["strategies"][0]
    variant = {**suite.resolved(), "epochs": 1, "seeds": [suite.seeds[0]], "strategies": [first]}
    return run_suite(variant, folder).peak_rss


def suite_wall_time(suite: Suite, jobs: int, folder: Path) -> float:
    """Wall seconds of `mimo-bench run --jobs {jobs}` on ``suite``, as a user runs it (data cache filled first)."""
    problem = PROBLEMS.get(suite.problem)(**suite.problem_options)
    for seed in suite.seeds:
        problem.load(seed)  # generated data is cached on disk: time the suite, not the first generation
    return run_suite(suite.resolved(), folder, "--jobs", str(jobs)).seconds
