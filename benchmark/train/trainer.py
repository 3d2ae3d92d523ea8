"""One training loop for every strategy: train, validate each epoch, test the best-val model.

Model selection uses val only: the chosen epoch minimises the mean over tasks of
val_loss_t(epoch) / val_loss_t(epoch 1), a scale-free joint score.  Test is touched once, at the end.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from benchmark.api.problem import ProblemData, Split, TaskSpec
from benchmark.api.strategy import StepContext, Strategy
from benchmark.train.diagnostics import GradientDiagnostics
from benchmark.train.metrics import task_loss, task_metrics
from benchmark.train.model import MimoNet, ModelConfig


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation settings of one run."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    eval_batch_size: int = 64  # small enough that a conv net's activations stay in cache (BENCHMARKS.md)
    diagnostics: bool = False  # log task-gradient norms and cosines at the last shared layer


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


def strategy_generator(seed: int) -> torch.Generator:
    """The strategies' own generator (`StepContext.generator`): derived from the run's seed, apart from batch order."""
    return torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(f"strategy:{seed}".encode()).digest()[:8]))


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


class Trainer:
    """One run's net, strategy and optimizer, trained epoch by epoch; `train` drives it to the end."""

    def __init__(
        self,
        data: ProblemData,
        model_config: ModelConfig,
        make_strategy: Callable[[Sequence[TaskSpec]], Strategy],
        config: TrainConfig,
    ):
        self.config = config
        self.device = torch.device(config.device)
        self.batch_order = seed_everything(config.seed)
        self.strategy_generator = strategy_generator(config.seed)
        self.tasks = data.tasks
        self.names = tuple(t.name for t in self.tasks)
        # channels-last conv weights: the same math, faster on CPU (BENCHMARKS.md, "harness overhead")
        self.model = MimoNet(data.inputs, self.tasks, model_config).to(self.device, memory_format=torch.channels_last)
        self.strategy = make_strategy(self.tasks).to(self.device)
        self.optimizer = torch.optim.Adam(
            [
                {"params": self.model.parameters(), "weight_decay": config.weight_decay},
                *self.strategy.parameter_groups(config.lr),
            ],
            lr=config.lr,
        )
        self.train_split, self.val_split, self.test_split = (
            to_device(split, self.device) for split in (data.train, data.val, data.test)
        )
        self.shared_parameters = self.model.shared_parameters()
        self.task_parameters = self.model.task_parameters()
        self.gradients = GradientDiagnostics(self.names, self.device) if config.diagnostics else None
        self.step_count = 0
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best_score, self.best_epoch, self.best_state, self.first_val = float("inf"), 0, None, None

    def step(self, batch: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step on ``batch``; returns the task losses and effective weights (detached)."""
        outputs, representation = self.model.forward_with_representation(batch.inputs)
        losses = {t.name: task_loss(t, outputs[t.name], batch.targets[t.name]) for t in self.tasks}
        loss_vector = torch.stack([losses[n].detach() for n in self.names])
        if not torch.isfinite(loss_vector).all():
            bad = [n for n, v in zip(self.names, loss_vector.tolist(), strict=True) if not math.isfinite(v)]
            raise RunFailed(f"non-finite loss for task(s) {', '.join(bad)}", self.step_count)
        self.optimizer.zero_grad(set_to_none=True)
        context = StepContext(
            losses,
            self.shared_parameters,
            self.task_parameters,
            self.model.last_shared_layer,
            self.step_count,
            self.epoch,
            representation,
            self.strategy_generator,
        )
        if self.gradients is not None:  # before the strategy's backward frees the graph
            self.gradients.add(losses, self.model.last_shared_layer)
        weights = self.strategy.backward(context)
        weight_vector = torch.stack([weights[n].detach() for n in self.names])
        if not torch.isfinite(weight_vector).all():
            bad = [n for n, v in zip(self.names, weight_vector.tolist(), strict=True) if not math.isfinite(v)]
            raise RunFailed(f"the strategy's weight diverged for task(s) {', '.join(bad)}", self.step_count)
        self.optimizer.step()
        self.strategy.after_step()
        self.step_count += 1
        return loss_vector, weight_vector

    def train_epoch(self, on_batch: BatchCallback | None = None) -> dict[str, float]:
        """Train one epoch, validate, keep the best-val state; returns the epoch's metrics."""
        initial = self.initial_losses() if self.step_count == 0 else {}
        self.epoch += 1
        if self.gradients is not None:
            self.gradients.reset()
        zeros = torch.zeros(len(self.tasks), device=self.device)
        totals = _EpochTotals(zeros.clone(), zeros.clone(), names=self.names)
        order = torch.randperm(len(self.train_split), generator=self.batch_order).to(self.device)
        for batch_index, start in enumerate(range(0, len(order), self.config.batch_size)):
            loss_vector, weight_vector = self.step(
                self.train_split.subset(order[start : start + self.config.batch_size])
            )
            totals.add(loss_vector, weight_vector)
            if on_batch:
                on_batch(self.epoch, batch_index, dict(zip(self.names, loss_vector, strict=True)))

        metrics = {**totals.means(), **initial}
        if self.gradients is not None:
            metrics.update(self.gradients.means())
        val = evaluate(self.model, self.val_split, self.tasks, "val", self.config.eval_batch_size)
        metrics.update(val)
        metrics.update({f"strategy/{key}": value for key, value in self.strategy.epoch_metrics().items()})
        self.first_val = self.first_val or val
        score = selection_score(val, self.first_val, self.tasks)
        self.strategy.end_epoch(self.epoch, {n: metrics[f"train/{n}/loss"] for n in self.names}, val)
        if score < self.best_score:  # after end_epoch: the strategy's state as this epoch leaves it
            self.best_score, self.best_epoch = score, self.epoch
            self.best_state = copy.deepcopy({"model": self.model.state_dict(), "strategy": self.strategy.state_dict()})
        self.history.append(metrics)
        return metrics

    def initial_losses(self) -> dict[str, float]:
        """L_t(0) as ``train/<task>/initial_loss``: each task's loss of the net as initialised, over the whole train
        split (eval mode, no autograd; the RNG streams are untouched), in the first epoch's metrics, so it is logged
        once per run and sum_t L_t(e) / L_t(0), GradNorm's loss ratio, can be read for any run.  ``train/<task>/loss``
        is instead the mean over an epoch's batches, taken in train mode as the net learns."""
        values = evaluate(self.model, self.train_split, self.tasks, "train", self.config.eval_batch_size)
        return {f"train/{t.name}/initial_loss": values[f"train/{t.name}/loss"] for t in self.tasks}

    def state_dict(self) -> dict[str, object]:
        """Everything needed to continue this run exactly where it stands (after an epoch)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "strategy": self.strategy.state_dict(),
            "batch_order": self.batch_order.get_state(),
            "strategy_generator": self.strategy_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self._on_cuda() else [],  # one per visible device
            "python_rng": list(random.getstate()[1]),
            "epoch": self.epoch,
            "step_count": self.step_count,
            "history": self.history,
            "best": {"score": self.best_score, "epoch": self.best_epoch, "state": self.best_state},
            "first_val": self.first_val,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict` taken by an earlier process."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.strategy.load_state_dict(state["strategy"])
        self.batch_order.set_state(state["batch_order"])
        if "strategy_generator" in state:  # checkpoints written before it existed
            self.strategy_generator.set_state(state["strategy_generator"])
        torch.set_rng_state(state["torch_rng"])
        if self._on_cuda():  # a CUDA run resumed on CUDA continues its stream; elsewhere it has none
            for index, cuda_state in enumerate(state.get("cuda_rng", [])[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(cuda_state, index)
        random.setstate((3, tuple(state["python_rng"]), None))
        self.epoch, self.step_count, self.history = state["epoch"], state["step_count"], state["history"]
        best = state["best"]
        self.best_score, self.best_epoch, self.best_state = best["score"], best["epoch"], best["state"]
        self.first_val = state["first_val"]

    def _on_cuda(self) -> bool:
        return torch.device(self.config.device).type == "cuda"

    def best_val_metrics(self) -> dict[str, float]:
        """The ``val/...`` metrics of the best-val epoch."""
        return {k: v for k, v in self.history[self.best_epoch - 1].items() if k.startswith("val/")}

    def selection_metrics(self) -> dict[str, float]:
        """How the model was selected, logged with the test metrics: the best-val epoch."""
        return {"best_epoch": self.best_epoch}

    @property
    def best_strategy_state(self) -> dict[str, torch.Tensor]:
        """The strategy's state at the end of the best-val epoch (the epoch of the model that `test` uses)."""
        return self.best_state["strategy"]

    def test(self) -> dict[str, float]:
        """Test metrics of the best-val model (which the model keeps afterwards)."""
        self.model.load_state_dict(self.best_state["model"])
        return evaluate(self.model, self.test_split, self.tasks, "test", self.config.eval_batch_size)
