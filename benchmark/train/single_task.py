"""Single-task training for a strategy that declares ``separate_nets``: one `Trainer` per task.

Each task gets its own net (encoders, trunk, that task's head only) trained on its own loss, from
the same inputs, seed and splits; the nets step in lockstep, epoch by epoch, behind the interface
the runner uses from `Trainer`.  Each net keeps its own global RNG stream (CPU torch and Python),
so every task's numbers are exactly those of training that task alone; with early stopping each net
stops on its own, and the others train on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from benchmark.api.problem import ProblemData, Split, TaskSpec
from benchmark.api.strategy import Strategy
from benchmark.train.model import ModelConfig
from benchmark.train.trainer import BatchCallback, TrainConfig, Trainer


def restrict(data: ProblemData, task: TaskSpec) -> ProblemData:
    """``data`` with one task: every input, only that task's targets."""

    def keep(split: Split) -> Split:
        return Split(split.inputs, {task.name: split.targets[task.name]})

    return ProblemData(data.inputs, (task,), keep(data.train), keep(data.val), keep(data.test), data.info)


class SingleTaskTrainers:
    """One `Trainer` per task, stepped together; metrics are merged, each task under its own name.

    Each net selects its own best-val epoch (logged as ``best_epoch/<task>``); ``best_epoch`` is the
    latest of them, the last epoch whose model is used.
    """

    def __init__(
        self,
        data: ProblemData,
        model_config: ModelConfig,
        make_strategy: Callable[[Sequence[TaskSpec]], Strategy],
        config: TrainConfig,
    ):
        self.config = config
        self.trainers: dict[str, Trainer] = {}
        self._rng: dict[str, tuple[torch.Tensor, Any]] = {}
        for task in data.tasks:
            self.trainers[task.name] = Trainer(restrict(data, task), model_config, make_strategy, config)
            self._rng[task.name] = (torch.get_rng_state(), random.getstate())  # as after a lone Trainer's setup
        self.model = nn.ModuleDict({name: trainer.model for name, trainer in self.trainers.items()})
        self.strategy = nn.ModuleDict({name: trainer.strategy for name, trainer in self.trainers.items()})
        self.batches = math.ceil(len(data.train) / config.batch_size)

    @contextmanager
    def _own_rng(self, name: str) -> Iterator[Trainer]:
        """Run with task ``name``'s global RNG state, and keep where it ends."""
        torch_state, python_state = self._rng[name]
        torch.set_rng_state(torch_state)
        random.setstate(python_state)
        try:
            yield self.trainers[name]
        finally:
            self._rng[name] = (torch.get_rng_state(), random.getstate())

    @property
    def epoch(self) -> int:
        """The epochs done by the nets still training (all of them, without early stopping)."""
        return max(trainer.epoch for trainer in self.trainers.values())

    @property
    def stopped(self) -> bool:
        """Whether early stopping has ended every net's training."""
        return all(trainer.stopped for trainer in self.trainers.values())

    @property
    def best_epoch(self) -> int:
        return max(trainer.best_epoch for trainer in self.trainers.values())

    def train_epoch(self, on_batch: BatchCallback | None = None) -> dict[str, float]:
        """Train every task's net not stopped early one epoch; ``on_batch`` sees their batches as one epoch's progress."""
        metrics: dict[str, float] = {}
        training = [name for name, trainer in self.trainers.items() if not trainer.stopped]
        count = len(training)
        for index, name in enumerate(training):

            def progress(epoch: int, batch: int, losses: dict[str, torch.Tensor], offset: int = index) -> None:
                on_batch(epoch, (offset * self.batches + batch) // count, losses)

            with self._own_rng(name) as trainer:
                metrics.update(trainer.train_epoch(progress if on_batch else None))
        return metrics

    @property
    def best_strategy_state(self) -> dict[str, torch.Tensor]:
        """Each net's strategy state at its own best-val epoch, keyed as ``strategy.state_dict()`` is."""
        return {f"{n}.{k}": v for n, t in self.trainers.items() for k, v in t.best_strategy_state.items()}

    def best_val_metrics(self) -> dict[str, float]:
        """Each task's ``val/...`` metrics at its own net's best-val epoch."""
        return {k: v for trainer in self.trainers.values() for k, v in trainer.best_val_metrics().items()}

    def selection_metrics(self) -> dict[str, float]:
        """``best_epoch`` (the latest) and each task's own ``best_epoch/<task>``; with early stopping also
        ``stopped_epoch`` (the latest) and ``stopped_epoch/<task>``."""
        values = {"best_epoch": self.best_epoch, **{f"best_epoch/{n}": t.best_epoch for n, t in self.trainers.items()}}
        if self.config.patience:
            values["stopped_epoch"] = self.epoch
            values.update({f"stopped_epoch/{n}": t.epoch for n, t in self.trainers.items()})
        return values

    def test(self) -> dict[str, float]:
        """Each task's test metrics from its own net's best-val state."""
        return {k: v for trainer in self.trainers.values() for k, v in trainer.test().items()}

    def state_dict(self) -> dict[str, object]:
        """Every net's `Trainer.state_dict`, each holding that net's own RNG states."""
        states: dict[str, object] = {}
        for name in self.trainers:
            with self._own_rng(name) as trainer:
                states[name] = trainer.state_dict()
        return {"tasks": states}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict` taken by an earlier process."""
        for name in self.trainers:
            with self._own_rng(name) as trainer:
                trainer.load_state_dict(state["tasks"][name])
