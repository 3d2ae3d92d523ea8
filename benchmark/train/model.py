"""The MIMO net: one encoder per input, concatenation, a shared trunk, one head per task."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from benchmark.api.problem import InputSpec, TaskSpec


@dataclass(frozen=True)
class ModelConfig:
    """Widths of every part; the suite's ``[model]`` table sets these keys."""

    conv_channels: tuple[int, ...] = (16, 32)  # one conv3x3-ReLU-maxpool block per entry (see ImageEncoder)
    image_pool: int = 2  # adaptive average pool to image_pool x image_pool before flattening
    sequence_hidden: int = 64  # GRU hidden size
    vector_hidden: tuple[int, ...] = (128,)  # MLP widths for vector inputs
    embedding_dim: int = 16  # category inputs
    trunk: tuple[int, ...] = (128,)  # shared fully connected layers after fusion (at least one)
    head_hidden: int = 0  # 0: each head is one linear layer; >0: one hidden layer of this width
    dropout: float = 0.0


def _mlp(sizes: Sequence[int], dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


class ImageEncoder(nn.Module):
    """Conv3x3-ReLU-maxpool blocks, then an adaptive average pool.

    Each block runs its max-pool before its ReLU: ReLU is monotone, so ``relu(max(x)) == max(relu(x))``
    exactly, and the pool's gradient goes to the same (first) maximum, so outputs and gradients are
    bit-identical to conv-ReLU-pool while the ReLU touches a quarter of the values.
    """

    def __init__(self, spec: InputSpec, config: ModelConfig):
        super().__init__()
        channels = [spec.shape[0], *config.conv_channels]
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.MaxPool2d(2), nn.ReLU()]
        blocks += [nn.AdaptiveAvgPool2d(config.image_pool), nn.Flatten()]
        self.net = nn.Sequential(*blocks)
        self.out_features = channels[-1] * config.image_pool**2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float().div_(255.0)
        return self.net(images)


class SequenceEncoder(nn.Module):
    def __init__(self, spec: InputSpec, config: ModelConfig):
        super().__init__()
        self.gru = nn.GRU(spec.shape[1], config.sequence_hidden, batch_first=True)
        self.out_features = config.sequence_hidden

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        _, last_hidden = self.gru(sequences)
        return last_hidden[-1]


class VectorEncoder(nn.Module):
    def __init__(self, spec: InputSpec, config: ModelConfig):
        super().__init__()
        sizes = [spec.shape[0], *config.vector_hidden]
        self.net = nn.Sequential(*_mlp(sizes, config.dropout))
        self.out_features = sizes[-1]

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.net(vectors)


class CategoryEncoder(nn.Module):
    def __init__(self, spec: InputSpec, config: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(spec.num_categories or 1, config.embedding_dim)
        self.out_features = config.embedding_dim

    def forward(self, categories: torch.Tensor) -> torch.Tensor:
        return self.embedding(categories)


ENCODERS = {"image": ImageEncoder, "sequence": SequenceEncoder, "vector": VectorEncoder, "category": CategoryEncoder}


class TaskHead(nn.Module):
    def __init__(self, task: TaskSpec, in_features: int, config: ModelConfig):
        super().__init__()
        out_features = task.num_classes if task.kind == "classification" else task.dim
        hidden = [config.head_hidden] if config.head_hidden else []
        self.net = nn.Sequential(
            *_mlp([in_features, *hidden], config.dropout),
            nn.Linear(hidden[-1] if hidden else in_features, out_features),
        )
        self.regression = task.kind == "regression"
        self.scalar = self.regression and task.dim == 1  # (batch,) outputs, as scalar targets are stored
        self.output_scale = task.output_scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.net(features)
        if not self.regression:
            return out
        return (out.squeeze(-1) if self.scalar else out) * self.output_scale


class MimoNet(nn.Module):
    """Encoders per input, fusion by concatenation, shared trunk, one head per task.

    `shared_parameters()` are the encoders' and the trunk's; `last_shared_layer` is the trunk's
    last linear layer; `forward_with_representation` also returns the trunk's output, which every head reads.
    """

    def __init__(self, inputs: Sequence[InputSpec], tasks: Sequence[TaskSpec], config: ModelConfig):
        super().__init__()
        self.encoders = nn.ModuleDict({spec.name: ENCODERS[spec.kind](spec, config) for spec in inputs})
        fused = sum(encoder.out_features for encoder in self.encoders.values())
        self.trunk = nn.Sequential(*_mlp([fused, *config.trunk], config.dropout))
        self.heads = nn.ModuleDict({task.name: TaskHead(task, config.trunk[-1], config) for task in tasks})

    @property
    def last_shared_layer(self) -> nn.Linear:
        return [m for m in self.trunk if isinstance(m, nn.Linear)][-1]

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.encoders.parameters(), *self.trunk.parameters()]

    def task_parameters(self) -> dict[str, list[nn.Parameter]]:
        return {name: list(head.parameters()) for name, head in self.heads.items()}

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.forward_with_representation(inputs)[0]

    def forward_with_representation(
        self, inputs: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each head's output and the representation they all read (the trunk's output), in one forward."""
        fused = torch.cat([encoder(inputs[name]) for name, encoder in self.encoders.items()], dim=1)
        features = self.trunk(fused)
        return {name: head(features) for name, head in self.heads.items()}, features
