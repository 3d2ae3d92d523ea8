"""What the strategy property tests share: tiny nets, batches, one training step as the trainer runs it."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.api.problem import InputSpec, TaskSpec
from benchmark.api.strategy import StepContext, Strategy
from benchmark.train.metrics import task_loss
from benchmark.train.model import MimoNet, ModelConfig

REGRESSION = (TaskSpec("a", "regression"), TaskSpec("b", "regression"))
THREE = (*REGRESSION, TaskSpec("c", "regression"))
MIXED = (TaskSpec("digit", "classification", num_classes=3), TaskSpec("size", "regression"))


def make_net(tasks, dim: int = 6, seed: int = 0) -> MimoNet:
    torch.manual_seed(seed)
    return MimoNet([InputSpec("x", "vector", (dim,))], tasks, ModelConfig(vector_hidden=(16,), trunk=(16,)))


def make_batch(tasks, n: int = 32, dim: int = 6, scales: dict[str, float] | None = None):
    """Inputs and targets that the net can learn: each task reads its own input coordinate."""
    x = torch.randn(n, dim)
    targets = {}
    for i, task in enumerate(tasks):
        if task.kind == "classification":
            targets[task.name] = (x[:, i] > 0).long() + (x[:, i] > 1).long()
        else:
            targets[task.name] = (scales or {}).get(task.name, 1.0) * torch.tanh(x[:, i] + x[:, -1])
    return {"x": x}, targets


def losses_of(net: MimoNet, tasks, inputs, targets) -> dict[str, torch.Tensor]:
    outputs = net(inputs)
    return {t.name: task_loss(t, outputs[t.name], targets[t.name]) for t in tasks}


def context(net: MimoNet, losses: dict[str, torch.Tensor], step: int = 0) -> StepContext:
    return StepContext(losses, net.shared_parameters(), net.task_parameters(), net.last_shared_layer, step, 1)


def train_step(strategy: Strategy, net: MimoNet, optimizer, tasks, step: int, **batch_options):
    """One step as `benchmark.train.train` runs it, on a fresh batch; returns the strategy's weights."""
    losses = losses_of(net, tasks, *make_batch(tasks, **batch_options))
    optimizer.zero_grad(set_to_none=True)
    weights = strategy.backward(context(net, losses, step))
    optimizer.step()
    strategy.after_step()
    return weights


def adam(net: nn.Module, strategy: Strategy, lr: float = 1e-3) -> torch.optim.Adam:
    return torch.optim.Adam([{"params": net.parameters()}, *strategy.parameter_groups(lr)], lr=lr)


def grad_norm(loss: torch.Tensor, params) -> torch.Tensor:
    """||d loss / d params||, keeping the graph."""
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(params), retain_graph=True)]).norm()


def scalar_context(losses: dict[str, torch.Tensor], step: int = 0) -> StepContext:
    return StepContext(losses, [], {}, nn.Identity(), step, 1)


def head_state(net: MimoNet) -> dict[str, list[torch.Tensor]]:
    return {name: [p.detach().clone() for p in head.parameters()] for name, head in net.heads.items()}
