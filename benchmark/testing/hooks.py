"""Drive the real `Trainer` on a tiny problem and check every hook of a strategy as the trainer calls it."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from benchmark.api.problem import ProblemData, TaskSpec
from benchmark.api.strategy import StepContext, Strategy
from benchmark.problems.tabular import Tabular
from benchmark.testing.failure import fail
from benchmark.train.model import ModelConfig
from benchmark.train.trainer import RunFailed, TrainConfig, Trainer

EPOCHS = 2
# a classification and a regression task (loss scales about 1 and 10^4 apart), a few steps per epoch
TINY_PROBLEM = Tabular(dim_a=6, dim_b=4, samples=90, classes=3, target_scale=100.0)
TINY_NET = ModelConfig(vector_hidden=(16,), trunk=(16,))


def tiny_data() -> ProblemData:
    return TINY_PROBLEM.load(seed=0)


class HookRecorder:
    """Wraps one strategy instance's hooks: checks what each returns and records the order of the calls."""

    def __init__(self, cls: type[Strategy], device: torch.device):
        self.cls = cls
        self.device = device
        self.calls: list[tuple[str, Any]] = []
        self.trained_heads: set[str] = set()  # tasks whose head got a .grad at some step

    def attach(self, strategy: Strategy) -> Strategy:
        for hook in ("backward", "after_step", "epoch_metrics", "end_epoch"):
            setattr(strategy, hook, self._guarded(hook, getattr(strategy, hook)))
        return strategy

    def _guarded(self, hook: str, method: Callable[..., Any]) -> Callable[..., Any]:
        check = getattr(self, f"_check_{hook}", None)

        @functools.wraps(method)
        def call(*args: Any) -> Any:
            self.calls.append((hook, args[0] if hook == "end_epoch" else None))
            try:
                result = method(*args)
            except Exception as error:
                raise fail(self.cls, f"{hook} runs", f"{hook} raised {type(error).__name__}: {error}") from error
            if check is not None:
                check(result, *args)
            return result

        return call

    def _check_backward(self, weights: object, ctx: StepContext) -> None:
        names = set(ctx.losses)
        if not isinstance(weights, Mapping) or set(weights) != names:
            keys = sorted(weights) if isinstance(weights, Mapping) else type(weights).__name__
            raise fail(self.cls, "one weight per task", f"backward returned {keys}, the tasks are {sorted(names)}")
        for task, value in weights.items():
            if not (isinstance(value, torch.Tensor) and value.dim() == 0):
                raise fail(self.cls, "one weight per task", f"weight of {task!r} must be a 0-d tensor, got {value!r}")
            if value.device.type != self.device.type:
                raise fail(
                    self.cls, "one weight per task", f"weight of {task!r} is on {value.device}, not {self.device}"
                )
            signed = self.cls.signed_weights
            if not (torch.isfinite(value) and (signed or value >= 0)):
                bound = "" if signed else " and >= 0"
                raise fail(self.cls, "one weight per task", f"weight of {task!r} must be finite{bound}, got {value}")
        self.trained_heads |= {
            n for n, params in ctx.task_parameters.items() if any(p.grad is not None for p in params)
        }
        grads = [p.grad for p in ctx.shared_parameters if p.grad is not None]
        if not grads:
            raise fail(self.cls, "finite shared gradients", f"step {ctx.step}: no shared parameter received a .grad")
        if not all(torch.isfinite(g).all() for g in grads):
            raise fail(self.cls, "finite shared gradients", f"step {ctx.step}: a shared gradient is not finite")
        if not any(g.abs().sum() > 0 for g in grads):
            raise fail(self.cls, "finite shared gradients", f"step {ctx.step}: every shared gradient is zero")

    def _check_epoch_metrics(self, metrics: object) -> None:
        if not isinstance(metrics, Mapping):
            raise fail(self.cls, "epoch_metrics gives floats", f"it returned {type(metrics).__name__}, not a dict")
        for key, value in metrics.items():
            plain = isinstance(value, int | float) and not isinstance(value, bool)
            if not isinstance(key, str) or not plain:
                raise fail(
                    self.cls,
                    "epoch_metrics gives floats",
                    f"{key!r}: {value!r} is a {type(value).__name__}; return plain Python floats (e.g. float(tensor))",
                )

    def expected_calls(self, steps_per_epoch: int) -> list[tuple[str, Any]]:
        """The order in which the trainer calls the hooks: per step backward then after_step, per epoch
        epoch_metrics then end_epoch(epoch)."""
        calls: list[tuple[str, Any]] = []
        for epoch in range(1, EPOCHS + 1):
            calls += [("backward", None), ("after_step", None)] * steps_per_epoch
            calls += [("epoch_metrics", None), ("end_epoch", epoch)]
        return calls


def drive(cls: type[Strategy], options: dict[str, Any], device: str) -> Strategy:
    """Train ``EPOCHS`` epochs of the tiny problem on ``device`` with the real trainer; returns the strategy."""
    data = tiny_data()
    recorder = HookRecorder(cls, torch.device(device))

    def make_strategy(tasks: tuple[TaskSpec, ...]) -> Strategy:
        return recorder.attach(cls(tasks, **options))

    config = TrainConfig(epochs=EPOCHS, batch_size=16, lr=1e-3, seed=0, device=device)
    trainer = Trainer(data, TINY_NET, make_strategy, config)
    for _ in range(EPOCHS):
        try:
            trainer.train_epoch()
        except RunFailed as error:
            raise fail(cls, "trains", f"on {device}: {error}") from error
    steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
    if recorder.calls != recorder.expected_calls(steps_per_epoch):
        raise fail(cls, "hooks called as the trainer calls them", f"got {recorder.calls}")
    untrained = sorted(set(trainer.strategy.task_names) - recorder.trained_heads)
    if untrained:
        raise fail(
            cls, "every head receives a gradient", f"the heads of {untrained} never got a .grad in {EPOCHS} epochs"
        )
    for tensor in [*trainer.strategy.parameters(), *trainer.strategy.buffers()]:
        if tensor.device.type != torch.device(device).type:
            raise fail(cls, ".to(device) moves its state", f"a tensor stayed on {tensor.device} after .to({device!r})")
    return trainer.strategy
