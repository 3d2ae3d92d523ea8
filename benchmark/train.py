"""One training loop for every strategy: train, validate each epoch, test the best-val model.

Model selection uses val only: the chosen epoch minimises the mean over tasks of
val_loss_t(epoch) / val_loss_t(epoch 1), a scale-free joint score.  Test is touched once, at the end.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from benchmark.metrics import task_loss, task_metrics
from benchmark.model import MimoNet, ModelConfig
from benchmark.problem import ProblemData, Split, TaskSpec
from benchmark.strategy import StepContext, Strategy


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation settings of one run."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    eval_batch_size: int = 2048


@dataclass
class RunResult:
    """What a finished run produced."""

    test_metrics: dict[str, float]
    best_epoch: int
    history: list[dict[str, float]]
    model: MimoNet
    strategy: Strategy
    steps: int


class RunFailed(Exception):
    """Training cannot go on (e.g. a non-finite loss); ``step`` says where."""

    def __init__(self, reason: str, step: int):
        super().__init__(f"{reason} at step {step}")
        self.reason = reason
        self.step = step


EpochCallback = Callable[[int, dict[str, float]], None]
BatchCallback = Callable[[int, int, dict[str, torch.Tensor]], None]  # epoch, batch, losses


def seed_everything(seed: int) -> torch.Generator:
    """Seed every global RNG and return a generator for batch order."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_device(split: Split, device: torch.device) -> Split:
    return Split(
        {k: v.to(device) for k, v in split.inputs.items()}, {k: v.to(device) for k, v in split.targets.items()}
    )


@torch.no_grad()
def evaluate(model: MimoNet, split: Split, tasks: Sequence[TaskSpec], prefix: str, batch_size: int) -> dict[str, float]:
    """Every task's metrics on a split as ``<prefix>/<task>/<metric>``, computed without autograd."""
    model.eval()
    outputs: dict[str, list[torch.Tensor]] = {task.name: [] for task in tasks}
    for start in range(0, len(split), batch_size):
        batch = {k: v[start : start + batch_size] for k, v in split.inputs.items()}
        for name, output in model(batch).items():
            outputs[name].append(output)
    model.train()
    values = {}
    for task in tasks:
        for metric, value in task_metrics(task, torch.cat(outputs[task.name]), split.targets[task.name]).items():
            values[f"{prefix}/{task.name}/{metric}"] = float(value)
    return values


def selection_score(val: dict[str, float], first_val: dict[str, float], tasks: Sequence[TaskSpec]) -> float:
    """Mean over tasks of val loss relative to its first-epoch value (lower is better)."""
    return sum(val[f"val/{t.name}/loss"] / max(first_val[f"val/{t.name}/loss"], 1e-12) for t in tasks) / len(tasks)


@dataclass
class _EpochTotals:
    """Running sums over one epoch, kept as tensors so no step waits on a ``.item()``."""

    losses: torch.Tensor
    weights: torch.Tensor
    steps: int = 0
    names: tuple[str, ...] = field(default=())

    def add(self, losses: torch.Tensor, weights: torch.Tensor) -> None:
        self.losses += losses
        self.weights += weights
        self.steps += 1

    def means(self) -> dict[str, float]:
        losses = (self.losses / self.steps).tolist()
        weights = (self.weights / self.steps).tolist()
        values = {f"train/{n}/loss": v for n, v in zip(self.names, losses, strict=True)}
        values.update({f"weight/{n}": w for n, w in zip(self.names, weights, strict=True)})
        return values


def train(
    data: ProblemData,
    model_config: ModelConfig,
    make_strategy: Callable[[Sequence[TaskSpec]], Strategy],
    config: TrainConfig,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
) -> RunResult:
    """Train a fresh MIMO net on ``data`` under one strategy and return its test metrics."""
    device = torch.device(config.device)
    batch_order = seed_everything(config.seed)
    tasks = data.tasks
    names = tuple(t.name for t in tasks)
    model = MimoNet(data.inputs, tasks, model_config).to(device)
    strategy = make_strategy(tasks).to(device)
    optimizer = torch.optim.Adam(
        [{"params": model.parameters(), "weight_decay": config.weight_decay}, *strategy.parameter_groups(config.lr)],
        lr=config.lr,
    )
    train_split, val_split, test_split = (to_device(s, device) for s in (data.train, data.val, data.test))
    shared_parameters, task_parameters = model.shared_parameters(), model.task_parameters()

    step = 0
    history: list[dict[str, float]] = []
    best_score, best_epoch, best_state, first_val = float("inf"), 0, None, None
    for epoch in range(1, config.epochs + 1):
        totals = _EpochTotals(
            torch.zeros(len(tasks), device=device), torch.zeros(len(tasks), device=device), names=names
        )
        order = torch.randperm(len(train_split), generator=batch_order).to(device)
        for batch_index, start in enumerate(range(0, len(order), config.batch_size)):
            batch = train_split.subset(order[start : start + config.batch_size])
            outputs = model(batch.inputs)
            losses = {t.name: task_loss(t, outputs[t.name], batch.targets[t.name]) for t in tasks}
            loss_vector = torch.stack([losses[n].detach() for n in names])
            if not torch.isfinite(loss_vector).all():
                bad = [n for n, v in zip(names, loss_vector.tolist(), strict=True) if v != v or abs(v) == float("inf")]
                raise RunFailed(f"non-finite loss for task(s) {', '.join(bad)}", step)
            optimizer.zero_grad(set_to_none=True)
            context = StepContext(losses, shared_parameters, task_parameters, model.last_shared_layer, step, epoch)
            weights = strategy.backward(context)
            totals.add(loss_vector, torch.stack([weights[n].detach() for n in names]))
            optimizer.step()
            strategy.after_step()
            if on_batch:
                on_batch(epoch, batch_index, losses)
            step += 1

        metrics = totals.means()
        val = evaluate(model, val_split, tasks, "val", config.eval_batch_size)
        metrics.update(val)
        metrics.update(strategy.epoch_metrics())
        first_val = first_val or val
        score = selection_score(val, first_val, tasks)
        if score < best_score:
            best_score, best_epoch, best_state = score, epoch, copy.deepcopy(model.state_dict())
        strategy.end_epoch(epoch, {n: metrics[f"train/{n}/loss"] for n in names}, val)
        history.append(metrics)
        if on_epoch:
            on_epoch(epoch, metrics)

    model.load_state_dict(best_state)
    test = evaluate(model, test_split, tasks, "test", config.eval_batch_size)
    return RunResult(test, best_epoch, history, model, strategy, step)
