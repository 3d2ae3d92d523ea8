"""`check_strategy` catches each broken rule of the strategy contract, naming it, and passes a sound plugin."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from benchmark.api import (
    GradientStrategy,
    LossWeighting,
    MimoBenchError,
    StepContext,
    TaskWeights,
    add_to_grad,
    float_option,
)
from benchmark.testing import ConformanceError, check_strategy


class Sound(LossWeighting):
    """A fixed scale on every task (a plugin that keeps every rule)."""

    name = "sound"

    def __init__(self, tasks, *, scale: float = 1.0):
        super().__init__(tasks)
        self.scale = float_option(self.owner, "scale", scale, "a number > 0", lambda v: v > 0)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def combine(self, ctx: StepContext) -> tuple[torch.Tensor, TaskWeights]:
        self.steps += 1
        weights = {n: torch.tensor(self.scale, device=ctx.losses[n].device) for n in self.task_names}
        return sum(weights[n] * ctx.losses[n] for n in self.task_names), weights

    def epoch_metrics(self) -> dict[str, float]:
        return {"steps": float(self.steps)}


class EndEpochRaises(Sound):
    """Fails at the end of the first epoch."""

    def end_epoch(self, epoch, train_losses, val_metrics):
        raise KeyError(f"val/{self.task_names[0]}/accuracy_at_{epoch}")


class TensorMetrics(Sound):
    """Logs a tensor, not a float."""

    def epoch_metrics(self):
        return {"steps": self.steps.clone()}


@dataclasses.dataclass
class Counter:
    steps: int = 0


class PickledState(Sound):
    """Keeps a dataclass as extra state: it pickles, but does not load with weights_only=True."""

    def __init__(self, tasks, *, scale: float = 1.0):
        super().__init__(tasks, scale=scale)
        self.counter = Counter()

    def get_extra_state(self):
        return self.counter

    def set_extra_state(self, state):
        self.counter = state


class Unvalidated(Sound):
    """Stores an option without checking it."""

    def __init__(self, tasks, *, scale: float = 1.0, mode: str = "a"):
        super().__init__(tasks, scale=scale)
        self.mode = mode


class Unstored(Sound):
    """Does not keep its option as an attribute."""

    def __init__(self, tasks, *, factor: float = 1.0):
        super().__init__(tasks, scale=float_option("strategy 'sound'", "factor", factor, "a number", bool))


class InfiniteWeight(Sound):
    """Returns an infinite weight."""

    def combine(self, ctx):
        total, weights = super().combine(ctx)
        return total, {**weights, self.task_names[0]: torch.tensor(float("inf"))}


class HeadsForgotten(GradientStrategy):
    """Back-propagates into the shared parameters only: the heads never train."""

    name = "heads_forgotten"

    def backward(self, ctx):
        total = sum(ctx.losses.values())
        add_to_grad(ctx.shared_parameters, torch.autograd.grad(total, ctx.shared_parameters))
        return {n: torch.ones((), device=total.device) for n in self.task_names}


class OptionCalledLabel(Sound):
    """Takes an option that a suite's strategy table can never set."""

    def __init__(self, tasks, *, scale: float = 1.0, label: str = "x"):
        super().__init__(tasks, scale=scale)
        self.label = label


def test_a_sound_plugin_passes():
    check_strategy(Sound, scale=2.0)


def test_end_epoch_that_raises_is_caught():
    with pytest.raises(ConformanceError, match="'end_epoch runs': end_epoch raised KeyError"):
        check_strategy(EndEpochRaises)


def test_epoch_metrics_that_returns_tensors_is_caught():
    with pytest.raises(ConformanceError, match="'epoch_metrics gives floats': 'steps': tensor.* is a Tensor"):
        check_strategy(TensorMetrics)


def test_state_that_needs_pickle_is_caught():
    with pytest.raises(ConformanceError, match=r"'state loads with torch.load\(weights_only=True\)'"):
        check_strategy(PickledState)


@pytest.mark.parametrize(
    ("cls", "rule"),
    [
        (Unvalidated, "'rejects a bad option with MimoBenchError': mode="),
        (Unstored, r"'stores each keyword as an attribute': set self.<option> for \['factor'\]"),
        (InfiniteWeight, "'one weight per task': weight of 'label' must be finite"),
        (HeadsForgotten, r"'every head receives a gradient': the heads of \['label', 'price'\] never got a .grad"),
        (OptionCalledLabel, r"'options a suite can set': \['label'\]"),
    ],
)
def test_other_broken_rules_are_named(cls, rule):
    with pytest.raises(ConformanceError, match=rule):
        check_strategy(cls)


def test_a_bad_option_of_the_check_itself_is_the_plugins_error():
    with pytest.raises(ConformanceError, match="'constructs'.*MimoBenchError.*scale must be a number > 0"):
        check_strategy(Sound, scale=-1.0)
    assert issubclass(ConformanceError, AssertionError) and not issubclass(ConformanceError, MimoBenchError)


def test_the_pytest_plugin_leaves_torch_unimported():
    code = "import sys, benchmark.testing.pytest_plugin; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
