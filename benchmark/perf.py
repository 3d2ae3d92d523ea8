"""`mimo-bench perf`: timings as ratios against a baseline measured in the same process.

Cases are interleaved round by round (the order rotates each round), so machine drift hits
every case alike; each figure is the median ratio over rounds with its min-max spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from benchmark.model import ModelConfig
from benchmark.registries import PROBLEMS, STRATEGIES
from benchmark.train import TrainConfig, Trainer, to_device


@dataclass
class Ratio:
    case: str
    seconds: float  # median seconds per unit of the case
    median: float  # median ratio to the baseline over rounds
    low: float
    high: float


def interleaved(cases: dict[str, Callable[[], float]], baseline: str, rounds: int) -> list[Ratio]:
    """Run every case once per round in rotating order; ratios are against ``baseline`` of the same round."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for offset in range(len(names)):
            name = names[(round_index + offset) % len(names)]
            times[name].append(cases[name]())
    ratios = []
    for name in names:
        per_round = [t / b for t, b in zip(times[name], times[baseline], strict=True)]
        ratios.append(
            Ratio(name, statistics.median(times[name]), statistics.median(per_round), min(per_round), max(per_round))
        )
    return ratios


def strategy_step_costs(steps: int = 20, rounds: int = 5, device: str = "cpu") -> list[Ratio]:
    """Seconds per training step of every registered strategy on the default glyphs problem, vs `sum`."""
    data = PROBLEMS.get("glyphs")().load(0)
    config = TrainConfig(epochs=1, batch_size=32, lr=1e-3, seed=0, device=device)
    model_config = ModelConfig(conv_channels=(16, 32), sequence_hidden=32)
    batch = data.train.subset(torch.arange(config.batch_size))
    trainers = {}
    for name in STRATEGIES.names():
        cls = STRATEGIES.get(name)
        trainers[name] = Trainer(data, model_config, lambda tasks, cls=cls: cls(tasks), config)
        trainers[name].step(to_device(batch, trainers[name].device))  # warm-up

    def timed(trainer: Trainer) -> Callable[[], float]:
        def run() -> float:
            local = to_device(batch, trainer.device)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(steps):
                trainer.step(local)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            return (time.perf_counter() - started) / steps

        return run

    return interleaved({name: timed(trainer) for name, trainer in trainers.items()}, "sum", rounds)


def report(title: str, ratios: list[Ratio], unit: str = "ms/step") -> str:
    lines = [title, f"{'case':<14} {unit:>10} {'ratio':>7} {'spread':>15}"]
    for r in ratios:
        lines.append(f"{r.case:<14} {r.seconds * 1000:>10.2f} {r.median:>7.3f} {f'[{r.low:.3f}, {r.high:.3f}]':>15}")
    return "\n".join(lines)
