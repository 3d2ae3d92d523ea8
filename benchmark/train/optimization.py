"""A run's optimizer: parameter groups, the per-epoch learning-rate schedule, and gradients held over micro-batches.

Groups: with neither ``head_lr`` nor ``trunk_lr`` the whole net is one group (as before these options
existed); with either, the shared part (encoders and trunk) is one group at ``trunk_lr`` (default
``lr``) and each task's head its own group at ``head_lr[task]`` (default ``lr``).  The strategy's own
learnable parameters keep the groups `Strategy.parameter_groups` gives (no weight decay).

Schedule, stepped once per epoch (`torch.optim.lr_scheduler.LambdaLR`): epoch e = 1 .. E of a run with
W warmup epochs trains with lr x f(e) on every net group, where
  * e <= W (linear warmup): f = e / (W + 1);
  * after it, with j = e - W - 1 (0 at the first epoch after warmup) and T = E - W:
    ``constant`` f = 1; ``cosine`` f = (1 + cos(pi j / T)) / 2 (the last epoch still has f > 0);
    ``step`` f = gamma ** floor(j / step_size).
The strategy's groups are not scheduled (their factor is 1).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from benchmark.api.strategy import Strategy
from benchmark.train.config import TrainConfig
from benchmark.train.model import MimoNet


def schedule_factor(config: TrainConfig, epoch: int) -> float:
    """The factor f(e) of the module docstring for epoch ``epoch`` (from 1)."""
    warmup = config.warmup_epochs
    if epoch <= warmup:
        return epoch / (warmup + 1)
    j, length = epoch - warmup - 1, config.epochs - warmup
    if config.schedule == "cosine":
        return (1 + math.cos(math.pi * j / length)) / 2
    if config.schedule == "step":
        return config.gamma ** (j // config.step_size)
    return 1.0


def net_groups(model: MimoNet, config: TrainConfig) -> list[dict[str, Any]]:
    """The net's parameter groups (see the module docstring)."""
    if not config.head_lr and config.trunk_lr is None:
        return [{"params": list(model.parameters()), "weight_decay": config.weight_decay}]
    trunk_lr = config.lr if config.trunk_lr is None else config.trunk_lr
    groups = [{"params": model.shared_parameters(), "lr": trunk_lr, "weight_decay": config.weight_decay}]
    for task, params in model.task_parameters().items():
        groups.append(
            {"params": params, "lr": config.head_lr.get(task, config.lr), "weight_decay": config.weight_decay}
        )
    return groups


def build_optimizer(
    model: MimoNet, strategy: Strategy, config: TrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimizer over the net's and the strategy's groups, and its per-epoch schedule."""
    groups = net_groups(model, config)
    scheduled = len(groups)
    groups += strategy.parameter_groups(config.lr)
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    else:
        optimizer = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[config.optimizer](groups, lr=config.lr)
    factors = [lambda index: schedule_factor(config, index + 1)] * scheduled  # LambdaLR counts epochs from 0
    factors += [lambda index: 1.0] * (len(groups) - scheduled)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factors)


class HeldGradients:
    """The gradients of one optimizer step's micro-batches, summed aside, each scaled by its share.

    `hold` moves every ``.grad`` into the sum (so each micro-batch's backward starts from no ``.grad``,
    whatever the strategy does with it) and `restore` puts the sum back for the step.  A parameter no
    micro-batch gave a gradient keeps none, so the optimizer leaves it alone.
    """

    def __init__(self, parameters: list[torch.Tensor]):
        self.parameters = parameters
        self.sums: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def hold(self, share: float) -> None:
        for parameter in self.parameters:
            if parameter.grad is None:
                continue
            held = self.sums.get(id(parameter))
            if held is None:
                self.sums[id(parameter)] = (parameter, parameter.grad * share)
            else:
                held[1].add_(parameter.grad, alpha=share)
            parameter.grad = None

    def restore(self) -> None:
        for parameter, gradient in self.sums.values():
            parameter.grad = gradient
        self.sums.clear()
