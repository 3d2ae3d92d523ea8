"""The MIMO net: an encoder per input kind, a shared trunk, a head per task, and what it exposes."""

from __future__ import annotations

import torch

from benchmark.api.problem import InputSpec, TaskSpec
from benchmark.train.model import MimoNet, ModelConfig

INPUTS = (
    InputSpec("image", "image", (1, 16, 16)),
    InputSpec("trajectory", "sequence", (10, 3)),
    InputSpec("features", "vector", (7,)),
    InputSpec("alphabet", "category", (), num_categories=4),
)
TASKS = (TaskSpec("character", "classification", num_classes=5), TaskSpec("slant", "regression", output_scale=30.0))


def sample_inputs(n: int = 6) -> dict[str, torch.Tensor]:
    return {
        "image": torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8),
        "trajectory": torch.randn(n, 10, 3),
        "features": torch.randn(n, 7),
        "alphabet": torch.randint(0, 4, (n,)),
    }


def test_every_input_kind_feeds_every_head():
    torch.manual_seed(0)
    model = MimoNet(INPUTS, TASKS, ModelConfig(conv_channels=(4, 8), trunk=(32, 16), head_hidden=8))
    outputs = model(sample_inputs())
    assert outputs["character"].shape == (6, 5) and outputs["slant"].shape == (6,)
    outputs["slant"].sum().backward()
    for name, encoder in model.encoders.items():
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters()), name
    assert all(p.grad is None for p in model.heads["character"].parameters())


def test_shared_parameters_are_encoders_and_trunk_only():
    model = MimoNet(INPUTS, TASKS, ModelConfig(trunk=(32, 16)))
    shared = {id(p) for p in model.shared_parameters()}
    heads = {id(p) for p in model.heads.parameters()}
    assert shared.isdisjoint(heads)
    assert shared | heads == {id(p) for p in model.parameters()}
    assert model.last_shared_layer is model.trunk[2]  # Linear(32, 16): the last layer before the heads
    assert model.last_shared_layer.out_features == 16


def test_regression_head_reaches_the_target_scale():
    model = MimoNet(INPUTS, TASKS, ModelConfig())
    head = model.heads["slant"]
    features = torch.randn(3, 128)
    assert torch.allclose(head(features), 30.0 * head.net(features).squeeze(-1))


def test_uint8_images_are_scaled_to_unit_range():
    torch.manual_seed(0)
    model = MimoNet(INPUTS[:1], TASKS, ModelConfig(conv_channels=(4,)))
    images = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    encoder = model.encoders["image"]
    assert torch.allclose(encoder(images), encoder.net(images.float() / 255))


def test_pool_before_relu_is_bit_identical_to_conv_relu_pool():
    """The image blocks pool before their ReLU (cheaper); outputs and gradients equal conv-ReLU-pool exactly."""
    torch.manual_seed(0)
    encoder = MimoNet(INPUTS[:1], TASKS, ModelConfig(conv_channels=(4, 8))).encoders["image"]
    convs = [m for m in encoder.net if isinstance(m, torch.nn.Conv2d)]
    seeds_order = torch.nn.Sequential(
        *[m for conv in convs for m in (conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2))], *list(encoder.net)[-2:]
    )
    images = torch.zeros(6, 1, 16, 16, dtype=torch.uint8)  # flat background: tied maxima, as in glyphs
    images[:, :, 4:12, 6:9] = torch.randint(0, 256, (6, 1, 8, 3), dtype=torch.uint8)
    for layout in (torch.contiguous_format, torch.channels_last):
        encoder.to(memory_format=layout)
        gradients = []
        for forward in (encoder, lambda x: seeds_order(x.float() / 255)):
            encoder.zero_grad()
            out = forward(images)
            (out * torch.linspace(-1, 1, out.shape[1])).sum().backward()
            gradients.append((out.detach(), [conv.weight.grad.clone() for conv in convs]))
        (ours, our_grads), (seeds, seeds_grads) = gradients
        assert torch.equal(ours, seeds)
        assert all(torch.equal(a, b) for a, b in zip(our_grads, seeds_grads, strict=True))
        assert all(g.abs().sum() > 0 for g in our_grads)
