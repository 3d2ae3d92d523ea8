"""Training options of every run: optimizer choice, per-head lrs, the lr schedule, clipping (accumulation and
early stopping: `test_accumulate_and_stopping`)."""

from __future__ import annotations

import math
import types

import pytest
import torch

from benchmark.api.problem import ProblemData
from benchmark.api.registry import STRATEGIES
from benchmark.train.model import ModelConfig
from benchmark.train.single_task import SingleTaskTrainers
from benchmark.train.trainer import TrainConfig, Trainer
from tests.unit.small_net import TASKS, build
from tests.unit.test_diagnostics import data

MODEL = ModelConfig(vector_hidden=(16,), trunk=(16,))  # no dropout: equal inputs give equal gradients


def trainer(strategy: str = "sum", problem: ProblemData | None = None, **settings) -> Trainer:
    config = TrainConfig(**{"epochs": 3, "batch_size": 16, "lr": 1e-2, "seed": 3, **settings})
    return Trainer(problem or data(), MODEL, lambda tasks: build(strategy), config)


def group_of(optimizer: torch.optim.Optimizer, parameter: torch.Tensor) -> dict:
    (group,) = [g for g in optimizer.param_groups if any(p is parameter for p in g["params"])]
    return group


class StepRecorder:
    """What the optimizer sees just before each step: the epoch, every group's lr, the net's gradient norm
    (and in ``strategy_grads`` the strategy's own parameters' gradients)."""

    def __init__(self, run: Trainer):
        self.run, self.steps, self.strategy_grads = run, [], []
        run.optimizer.register_step_pre_hook(self)

    def __call__(self, optimizer, args, kwargs) -> None:
        grads = [p.grad for p in self.run.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        self.steps.append((self.run.epoch, [g["lr"] for g in optimizer.param_groups], norm))
        self.strategy_grads.append([p.grad.clone() for p in self.run.strategy.parameters()])


# -- [optimizer] name ------------------------------------------------------------------------------------


def test_sgd_and_adamw_are_built_with_their_options():
    sgd = trainer(optimizer="sgd", lr=1e-4, momentum=0.9, nesterov=True, weight_decay=1e-3).optimizer
    assert type(sgd) is torch.optim.SGD
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["nesterov"] is True
    assert sgd.param_groups[0]["weight_decay"] == 1e-3 and sgd.param_groups[0]["lr"] == 1e-4
    adamw = trainer(optimizer="adamw", weight_decay=0.05)
    assert type(adamw.optimizer) is torch.optim.AdamW and adamw.optimizer.param_groups[0]["weight_decay"] == 0.05
    assert type(trainer().optimizer) is torch.optim.Adam
    adamw.train_epoch()  # and it trains: the decoupled decay shrinks a weight with no gradient
    assert all(torch.isfinite(p).all() for p in adamw.model.parameters())


def test_the_defaults_train_exactly_as_the_single_adam_group_did():
    """Default options: the optimizer these options replaced (one Adam group for the net), bit for bit."""
    new, old = trainer("uncertainty"), trainer("uncertainty")
    groups = [{"params": old.model.parameters(), "weight_decay": 0.0}, *old.strategy.parameter_groups(1e-2)]
    old.optimizer = torch.optim.Adam(groups, lr=1e-2)
    old.scheduler = types.SimpleNamespace(step=lambda: None)  # and no schedule
    for _ in range(2):
        assert new.train_epoch() == old.train_epoch()
    assert all(torch.equal(a, b) for a, b in zip(new.model.parameters(), old.model.parameters(), strict=True))


def test_sgd_momentum_is_the_heavy_ball_update():
    run = trainer(optimizer="sgd", lr=1e-4, momentum=0.5, batch_size=96)  # one step per epoch
    recorder = StepRecorder(run)
    weight = run.model.last_shared_layer.weight
    grads, values = [], [weight.detach().clone()]
    weight.register_post_accumulate_grad_hook(lambda p: grads.append(p.grad.clone()))
    for _ in range(2):
        run.train_epoch()
        values.append(weight.detach().clone())
    assert len(recorder.steps) == 2
    torch.testing.assert_close(values[1], values[0] - 1e-4 * grads[0])
    torch.testing.assert_close(values[2], values[1] - 1e-4 * (0.5 * grads[0] + grads[1]))


# -- [optimizer] head_lr / trunk_lr -------------------------------------------------------------------------


def test_head_lr_and_trunk_lr_reach_their_groups_and_their_updates():
    run = trainer(optimizer="sgd", lr=1e-4, head_lr={"size": 1e-6}, trunk_lr=3e-4, strategy="uncertainty")
    model, optimizer = run.model, run.optimizer
    assert all(group_of(optimizer, p)["lr"] == 3e-4 for p in model.shared_parameters())
    assert all(group_of(optimizer, p)["lr"] == 1e-6 for p in model.heads["size"].parameters())
    assert all(group_of(optimizer, p)["lr"] == 1e-4 for p in model.heads["kind"].parameters())
    (strategy_group,) = run.strategy.parameter_groups(1e-4)  # the strategy's own group, as it asks for it
    own = group_of(optimizer, next(run.strategy.parameters()))
    assert own["lr"] == strategy_group["lr"] and own["weight_decay"] == 0.0
    assert len(optimizer.param_groups) == 1 + len(TASKS) + 1  # trunk, one per head, the strategy's

    before = {name: [p.detach().clone() for p in head.parameters()] for name, head in model.heads.items()}
    grads: dict[int, torch.Tensor] = {}
    for head in model.heads.values():
        for p in head.parameters():
            p.register_post_accumulate_grad_hook(lambda p: grads.__setitem__(id(p), p.grad.clone()))
    run.step(run.train_split.subset(torch.arange(16)))
    for name, head in model.heads.items():  # plain SGD: each head moved by its own lr times its gradient
        lr = {"size": 1e-6}.get(name, 1e-4)
        for p, old in zip(head.parameters(), before[name], strict=True):
            torch.testing.assert_close(p.detach(), old - lr * grads[id(p)])


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_trains_with_per_head_lrs_accumulation_and_clipping(name):
    cls = STRATEGIES.get(name)
    settings = {"head_lr": {"size": 1e-4}, "trunk_lr": 5e-3, "accumulate": 2, "clip_grad_norm": 1.0}
    config = TrainConfig(1, 16, 1e-2, seed=3, **settings)
    make = cls if cls.separate_nets else (lambda tasks: build(name))
    run = (SingleTaskTrainers if cls.separate_nets else Trainer)(data(), MODEL, make, config)
    metrics = run.train_epoch()
    assert all(math.isfinite(v) for v in metrics.values())
    for part in run.trainers.values() if cls.separate_nets else [run]:
        assert part.step_count == 3  # 96 samples, batches of 16, two per step
        for task, head in part.model.heads.items():
            assert all(
                group_of(part.optimizer, p)["lr"] == (1e-4 if task == "size" else 1e-2) for p in head.parameters()
            )
        own = part.strategy.parameter_groups(1e-2)  # the strategy's groups, after the net's, as it asks for them
        assert [g["lr"] for g in part.optimizer.param_groups[1 + len(part.model.heads) :]] == [g["lr"] for g in own]


# -- [optimizer] schedule ---------------------------------------------------------------------------------


def expected_lr(
    base: float, epoch: int, epochs: int, schedule: str, warmup_epochs: int, step_size=1, gamma=0.1
) -> float:
    """The documented schedule, written out again."""
    if epoch <= warmup_epochs:
        return base * epoch / (warmup_epochs + 1)
    after = epoch - warmup_epochs - 1
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * after / (epochs - warmup_epochs)))
    if schedule == "step":
        return base * gamma ** (after // step_size)
    return base


@pytest.mark.parametrize(
    "schedule",
    [
        {"schedule": "cosine", "warmup_epochs": 2},
        {"schedule": "step", "warmup_epochs": 1, "step_size": 2, "gamma": 0.5},
        {"schedule": "constant", "warmup_epochs": 3},
        {"schedule": "cosine", "warmup_epochs": 0},
    ],
    ids=["cosine-warmup", "step-warmup", "constant-warmup", "cosine"],
)
def test_every_step_of_an_epoch_uses_the_scheduled_lr(schedule):
    epochs = 7
    run = trainer("uncertainty", epochs=epochs, head_lr={"kind": 2e-3}, **schedule)
    recorder = StepRecorder(run)
    logged = [run.train_epoch()["optimizer/lr"] for _ in range(epochs)]
    strategy_lr = run.optimizer.param_groups[-1]["lr"]
    assert len(recorder.steps) == epochs * 6
    for epoch, lrs, _ in recorder.steps:
        trunk, kind = (expected_lr(base, epoch, epochs, **schedule) for base in (1e-2, 2e-3))
        assert lrs[0] == pytest.approx(trunk, rel=1e-12) and lrs[1] == pytest.approx(kind, rel=1e-12)
        assert lrs[-1] == strategy_lr  # the strategy's own group is not scheduled
        assert logged[epoch - 1] == lrs[0]
    if schedule["schedule"] != "constant":
        assert len({round(lr, 12) for lr in logged[schedule["warmup_epochs"] :]}) > 1


# -- [optimizer] clip_grad_norm ---------------------------------------------------------------------------


def test_clipping_bounds_the_nets_gradient_norm_and_only_the_nets():
    unclipped, clipped = trainer("uncertainty"), trainer("uncertainty", clip_grad_norm=0.5)
    free, bounded = StepRecorder(unclipped), StepRecorder(clipped)
    unclipped.train_epoch(), clipped.train_epoch()
    assert min(norm for *_, norm in free.steps) > 0.5  # so the clip had work to do at every step
    assert all(norm == pytest.approx(0.5, rel=1e-5) for *_, norm in bounded.steps)
    # the strategy's own parameters are not clipped: the first step (same state) gives them the same gradient
    assert all(torch.equal(a, b) for a, b in zip(free.strategy_grads[0], bounded.strategy_grads[0], strict=True))
    assert free.steps[0][2] > bounded.steps[0][2]
