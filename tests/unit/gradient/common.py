"""What the gradient-method tests share: hand-built gradient matrices, a real step on a small net, a resume."""

from __future__ import annotations

import io

import torch

from benchmark.api.gradients import task_jacobian
from benchmark.api.problem import InputSpec, TaskSpec
from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.api.strategy import StepContext
from benchmark.train.metrics import task_loss
from benchmark.train.model import MimoNet, ModelConfig
from benchmark.train.trainer import TrainConfig, Trainer

TASKS = (
    TaskSpec("kind", "classification", num_classes=3),
    TaskSpec("size", "regression"),
    TaskSpec("shade", "classification", num_classes=2),
)
TWO = TASKS[:2]


def build(name: str, tasks=TASKS, **options):
    return STRATEGIES.get(name)(tasks, **options)


def random_jacobian(seed: int, tasks: int = 3, width: int = 7, conflict: bool = True) -> torch.Tensor:
    """A T x P matrix with at least one conflicting pair (``conflict``) or none (all entries positive)."""
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(tasks, width, generator=generator, dtype=torch.float64)
    if not conflict:
        return matrix.abs()
    matrix[1] = -matrix[0] + 0.3 * matrix[1]  # tasks 0 and 1 conflict
    return matrix


def aggregate(strategy, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The strategy's effective weights and direction for a hand-built J (float32, as training runs)."""
    matrix = matrix.float()
    return strategy.aggregate(matrix, matrix @ matrix.T)


def make_net(tasks=TASKS, seed: int = 0) -> MimoNet:
    torch.manual_seed(seed)
    return MimoNet([InputSpec("x", "vector", (6,))], tasks, ModelConfig(vector_hidden=(16,), trunk=(16,)))


def make_losses(net: MimoNet, tasks=TASKS, seed: int = 0):
    """Task losses of one batch (graphs intact) and the representation; the size task has a larger scale."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 6, generator=generator)
    targets = {"kind": x[:, 0].gt(0).long() + x[:, 1].gt(0).long(), "size": 10 * x[:, 2], "shade": x[:, 3].gt(0).long()}
    outputs, representation = net.forward_with_representation({"x": x})
    return {t.name: task_loss(t, outputs[t.name], targets[t.name]) for t in tasks}, representation


def step_context(net: MimoNet, losses, representation, seed: int) -> StepContext:
    """The context the trainer builds for step 0 of epoch 1, with a generator seeded ``seed``."""
    return StepContext(
        losses,
        net.shared_parameters(),
        net.task_parameters(),
        net.last_shared_layer,
        0,
        1,
        representation,
        torch.Generator().manual_seed(seed),
    )


def real_step(name: str, on: str = "shared", tasks=TASKS, **options):
    """One real step: returns (J over the variant's tensors, the shared .grad as a vector, weights, net)."""
    net = make_net(tasks)
    strategy = build(name, tasks, on=on, **options)
    losses, representation = make_losses(net, tasks)
    inputs = net.shared_parameters() if on == "shared" else [representation]
    matrix = task_jacobian([losses[t.name] for t in tasks], inputs)
    context = step_context(net, losses, representation, seed=0)
    weights = strategy.backward(context)
    shared_grad = torch.cat([p.grad.reshape(-1) for p in net.shared_parameters()])
    return matrix, shared_grad, torch.stack([weights[t.name] for t in tasks]), net


def glyphs_trainer(name: str, **options) -> Trainer:
    data = PROBLEMS.get("glyphs")(alphabets=3, characters=3, samples=8).load(0)
    config = ModelConfig(conv_channels=(4, 4), sequence_hidden=8, trunk=(16,))
    cls = STRATEGIES.get(name)
    return Trainer(data, config, lambda tasks: cls(tasks, **options), TrainConfig(2, 16, 2e-3, seed=1))


def resumed_equals_straight(name: str, epochs: int = 2, resume_after: int = 1, **options) -> tuple[dict, dict]:
    """Model states after ``epochs`` epochs straight, and after ``resume_after`` epochs, a checkpoint in a
    buffer, a new process-like Trainer loading it (``weights_only=True``) and the remaining epochs."""
    straight = glyphs_trainer(name, **options)
    for _ in range(epochs):
        straight.train_epoch()
    first = glyphs_trainer(name, **options)
    for _ in range(resume_after):
        first.train_epoch()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = glyphs_trainer(name, **options)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(epochs - resume_after):
        resumed.train_epoch()
    return straight.model.state_dict(), resumed.model.state_dict()


def assert_bit_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
