"""One training loop for every strategy: train, validate each epoch, test the best-val model.

Model selection uses val only: the chosen epoch minimises the mean over tasks of
val_loss_t(epoch) / val_loss_t(epoch 1), a scale-free joint score; early stopping watches the same score
(`benchmark.train.early_stopping`).  Test is touched once, at the end.

With ``accumulate`` = N one optimizer step takes N batches ("micro-batches"; effective batch N x
batch_size): the strategy's backward runs on each one alone (a gradient-manipulating strategy acts per
micro-batch), each micro-batch's gradients are held aside, and the step gets their mean weighted by
micro-batch size (1/N each for full ones; an epoch's last step may take fewer).  Every micro-batch of a
step sees that step's ``StepContext.step``; ``after_step`` runs once per optimizer step.  Then the net's
gradient norm is clipped to ``clip_grad_norm`` (if set) and the optimizer steps.
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
from benchmark.train.config import TrainConfig
from benchmark.train.diagnostics import GradientDiagnostics
from benchmark.train.early_stopping import EarlyStopping
from benchmark.train.evaluation import evaluate, selection_score
from benchmark.train.metrics import task_loss
from benchmark.train.model import MimoNet, ModelConfig
from benchmark.train.optimization import HeldGradients, build_optimizer


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
        self.optimizer, self.scheduler = build_optimizer(self.model, self.strategy, config)
        self.held = HeldGradients([p for group in self.optimizer.param_groups for p in group["params"]])
        self.stopping = EarlyStopping(config.patience, config.min_delta)
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
        return self.update([batch])[0]

    def update(self, batches: Sequence[Split]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One optimizer step over ``batches`` (micro-batches, see the module docstring); each one's task
        losses and effective weights (detached)."""
        self.optimizer.zero_grad(set_to_none=True)
        results = []
        samples = sum(len(batch) for batch in batches)
        for batch in batches:
            results.append(self._backward(batch))
            if len(batches) > 1:
                self.held.hold(len(batch) / samples)
        if len(batches) > 1:
            self.held.restore()
        if self.config.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
        self.optimizer.step()
        self.strategy.after_step()
        self.step_count += 1
        return results

    def _backward(self, batch: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """The strategy's backward on one (micro-)batch; its task losses and effective weights (detached)."""
        outputs, representation = self.model.forward_with_representation(batch.inputs)
        losses = {t.name: task_loss(t, outputs[t.name], batch.targets[t.name]) for t in self.tasks}
        loss_vector = torch.stack([losses[n].detach() for n in self.names])
        if not torch.isfinite(loss_vector).all():
            bad = [n for n, v in zip(self.names, loss_vector.tolist(), strict=True) if not math.isfinite(v)]
            raise RunFailed(f"non-finite loss for task(s) {', '.join(bad)}", self.step_count)
        context = StepContext(
            losses,
            self.shared_parameters,
            self.task_parameters,
            self.model.last_shared_layer,
            self.step_count,
            max(self.epoch, 1),  # a step before the first epoch (perf's warm-up, a check) belongs to epoch 1
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
        size, starts = self.config.batch_size, range(0, len(order), self.config.batch_size)
        for first in range(0, len(starts), self.config.accumulate):
            batches = [
                self.train_split.subset(order[s : s + size]) for s in starts[first : first + self.config.accumulate]
            ]
            for batch_index, (loss_vector, weight_vector) in enumerate(self.update(batches), first):
                totals.add(loss_vector, weight_vector)
                if on_batch:
                    on_batch(self.epoch, batch_index, dict(zip(self.names, loss_vector, strict=True)))

        metrics = {**totals.means(), **initial, "optimizer/lr": self.optimizer.param_groups[0]["lr"]}
        self.scheduler.step()
        if self.gradients is not None:
            metrics.update(self.gradients.means())
        val = evaluate(self.model, self.val_split, self.tasks, "val", self.config.eval_batch_size)
        metrics.update(val)
        metrics.update({f"strategy/{key}": value for key, value in self.strategy.epoch_metrics().items()})
        self.first_val = self.first_val or val
        score = selection_score(val, self.first_val, self.tasks)
        self.stopping.update(self.epoch, score)
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
            "scheduler": self.scheduler.state_dict(),
            "early_stopping": self.stopping.state_dict(),
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
        if "scheduler" in state:  # checkpoints written before schedules existed
            self.scheduler.load_state_dict(state["scheduler"])
            self.stopping.load_state_dict(state["early_stopping"])
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

    @property
    def stopped(self) -> bool:
        """Whether early stopping has ended training (before ``epochs``)."""
        return self.stopping.stopped

    def selection_metrics(self) -> dict[str, float]:
        """How the model was selected, logged with the test metrics: the best-val epoch, and with early
        stopping on, ``stopped_epoch`` (the last epoch trained; ``epochs`` if patience never ran out)."""
        return {"best_epoch": self.best_epoch, **({"stopped_epoch": self.epoch} if self.config.patience else {})}

    @property
    def best_strategy_state(self) -> dict[str, torch.Tensor]:
        """The strategy's state at the end of the best-val epoch (the epoch of the model that `test` uses)."""
        return self.best_state["strategy"]

    def test(self) -> dict[str, float]:
        """Test metrics of the best-val model (which the model keeps afterwards)."""
        self.model.load_state_dict(self.best_state["model"])
        return evaluate(self.model, self.test_split, self.tasks, "test", self.config.eval_batch_size)
