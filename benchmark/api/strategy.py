"""The strategy contract: how per-task losses become one parameter update.

A strategy is a `torch.nn.Module` (so `state_dict` checkpoints its learned weights and state).
Its constructor takes the task specs plus keyword arguments that are its configuration (what a
suite sets); it validates them at once.  Each step it receives one explicit `StepContext` and
never reaches into the trainer or the model.

Two kinds:
  * `LossWeighting`: implement `combine(ctx)` -> (total loss, task weights); the base class
    back-propagates the total.
  * `GradientStrategy`: implement `backward(ctx)` yourself, filling ``.grad`` of the shared
    and task parameters, and return the effective task weights.

Both return the effective per-task weights (0-d tensors) that the trainer logs as ``weight/<task>``;
the trainer reads them right after `backward`, before the optimizer step and `after_step`.
With a suite's ``accumulate = N`` the trainer calls `backward` once per micro-batch (N per optimizer
step, all with that step's ``ctx.step``), holds each call's gradients aside and steps on their mean;
`after_step` runs once per optimizer step.  So a gradient-manipulating strategy acts per micro-batch.
Each epoch the trainer calls `epoch_metrics` (values to log, as ``strategy/<key>``), then `end_epoch`.
Per-task gradients (the T x P matrix over shared parameters or the representation) and writing one
direction back into ``.grad`` are helpers in `benchmark.api.gradients`.
Declared traits (class attributes) tell the runner what a strategy needs: ``separate_nets`` = True
trains one net per task, each on that task's loss alone (`benchmark.train.single_task`);
``signed_weights`` = True allows effective weights below 0 (a gradient method's projections).
Strategies never import mlflow or optuna; `search_space` receives a trial-like object with
``suggest_float`` / ``suggest_int`` / ``suggest_categorical``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import TaskSpec
from benchmark.api.registry import Described

TaskWeights = dict[str, torch.Tensor]


@dataclass
class StepContext:
    """Everything a strategy may use for one optimisation step."""

    losses: dict[str, torch.Tensor]  # task name -> scalar loss, graph intact
    shared_parameters: list[torch.nn.Parameter]  # encoders + trunk
    task_parameters: dict[str, list[torch.nn.Parameter]]  # task name -> its head's parameters
    last_shared_layer: torch.nn.Module  # the layer whose output feeds every head
    step: int  # global optimizer step, from 0 (the same for every micro-batch of one step)
    epoch: int  # from 1
    representation: torch.Tensor | None = None  # the trunk output every head reads, graph intact (batch x width)
    generator: torch.Generator | None = None  # for stochastic strategies: seeded from the run's seed, checkpointed


class Strategy(Described, torch.nn.Module):
    """Base class of every strategy.  Set ``name`` (= module name) and a one-line docstring."""

    name: ClassVar[str]
    kind: ClassVar[str] = "loss weighting"
    separate_nets: ClassVar[bool] = False  # True: the runner trains one net per task (the single-task reference)
    signed_weights: ClassVar[bool] = False  # True: effective weights may be < 0 (else >= 0, as check_strategy checks)
    baseline: ClassVar[bool] = (
        False  # True for the one strategy that Δm%, the search objective and perf compare against
    )
    step_cost_target: ClassVar[float | None] = None  # `mimo-bench perf`: at most this many times the baseline's step

    def __init__(self, tasks: Sequence[TaskSpec]):
        super().__init__()
        if not tasks:
            raise MimoBenchError(f"strategy '{self.name}' needs at least one task")
        self.tasks = tuple(tasks)
        self.task_names = tuple(t.name for t in tasks)

    # -- the step ------------------------------------------------------------------------
    def backward(self, ctx: StepContext) -> TaskWeights:
        """Fill ``.grad`` for this step and return the effective task weights."""
        raise NotImplementedError

    # -- optional hooks (do nothing by default) --------------------------------------------
    def after_step(self) -> None:
        """Called after the optimizer step (e.g. to renormalise learned weights)."""

    def end_epoch(self, epoch: int, train_losses: Mapping[str, float], val_metrics: Mapping[str, float]) -> None:
        """Called after each epoch with its mean train losses and ``val/<task>/<metric>`` values."""

    def epoch_metrics(self) -> dict[str, float]:
        """Extra per-epoch values to log (e.g. step shares); the trainer logs key ``k`` as ``strategy/k``."""
        return {}

    # -- configuration -------------------------------------------------------------------
    def parameter_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """Optimizer groups for the strategy's own learnable parameters: no weight decay."""
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            return []
        return [{"params": params, "lr": getattr(self, "lr", None) or base_lr, "weight_decay": 0.0}]

    @classmethod
    def search_space(cls, trial: Any, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        """Constructor kwargs sampled from ``trial``; strategies without hyperparameters return {}."""
        return {}

    def config(self) -> dict[str, Any]:
        """The configuration this instance was built with (the ``options`` it stores)."""
        return {name: getattr(self, name) for name in self.options()}

    @property
    def steps_per_update(self) -> int:
        """Steps in one cycle of the strategy's work: k for a method that does its costly update every k
        steps (`mimo-bench perf` times whole cycles, so the update is counted once per k steps)."""
        return 1

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    @property
    def owner(self) -> str:
        """How option errors name this strategy."""
        return f"strategy '{self.name}'"

    def _error(self, message: str) -> MimoBenchError:
        return MimoBenchError(f"{self.owner}: {message}")


class LossWeighting(Strategy):
    """A strategy that returns one scalar loss to back-propagate."""

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        raise NotImplementedError

    def backward(self, ctx: StepContext) -> TaskWeights:
        total, weights = self.combine(ctx)
        total.backward()
        return weights


class GradientStrategy(Strategy):
    """A strategy that runs the backward pass itself."""

    kind: ClassVar[str] = "gradient"
