"""dtp: the focal weight -(1 - k)^gamma log k of each task's smoothed KPI, larger for the worse task."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import TaskSpec
from strategies.dtp import DTP
from tests.unit.gradient.common import assert_bit_identical, resumed_equals_straight
from tests.unit.strategies.steps import scalar_context

TASKS = (TaskSpec("digit", "classification", num_classes=3), TaskSpec("size", "regression", output_scale=10.0))
LOSSES = {"digit": torch.tensor(0.7), "size": torch.tensor(40.0)}


def val(accuracy: float, mae: float) -> dict[str, float]:
    """Validation metrics as the trainer passes them to `end_epoch`."""
    return {"val/digit/accuracy": accuracy, "val/digit/loss": 0.5, "val/size/mae": mae, "val/size/mse": 99.0}


def focal(kpi: float, gamma: float) -> float:
    return -((1 - kpi) ** gamma) * math.log(kpi)


def weights_of(strategy: DTP) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    return strategy.combine(scalar_context(LOSSES))


def test_weights_are_one_until_the_first_validation_metrics():
    total, weights = weights_of(DTP(TASKS))
    assert all(w.item() == 1.0 for w in weights.values())
    torch.testing.assert_close(total, torch.tensor(40.7))


def test_weight_is_the_focal_formula_of_the_kpi_and_larger_for_the_lower_kpi_task():
    strategy = DTP(TASKS, gamma=2.0, alpha=0.5)
    strategy.end_epoch(1, {}, val(accuracy=0.8, mae=5.0))  # KPIs 0.8 and exp(-5 / 10) = 0.607
    total, weights = weights_of(strategy)
    expected = {"digit": focal(0.8, 2.0), "size": focal(math.exp(-0.5), 2.0)}  # 0.0089 and 0.0774
    for name, value in expected.items():
        assert weights[name].item() == pytest.approx(value, rel=1e-6)
    assert weights["size"] > 5 * weights["digit"]  # the harder task gets the weight
    torch.testing.assert_close(total, expected["digit"] * LOSSES["digit"] + expected["size"] * LOSSES["size"])


def test_kpis_are_smoothed_with_alpha_and_each_task_may_have_its_own_gamma():
    strategy = DTP(TASKS, gamma={"digit": 0.0, "size": 3.0}, alpha=0.25)
    strategy.end_epoch(1, {}, val(accuracy=0.8, mae=5.0))
    strategy.end_epoch(2, {}, val(accuracy=0.4, mae=0.0))  # the newest KPIs: 0.4 and 1
    smoothed = {"digit": 0.25 * 0.4 + 0.75 * 0.8, "size": 0.25 * 1.0 + 0.75 * math.exp(-0.5)}
    torch.testing.assert_close(strategy.kpi, torch.tensor([smoothed["digit"], smoothed["size"]]))
    _, weights = weights_of(strategy)
    assert weights["digit"].item() == pytest.approx(-math.log(smoothed["digit"]), rel=1e-6)  # gamma 0: -log k
    assert weights["size"].item() == pytest.approx(focal(smoothed["size"], 3.0), rel=1e-6)


def test_a_zero_kpi_is_floored_so_the_weight_stays_finite():
    strategy = DTP(TASKS)
    strategy.end_epoch(1, {}, val(accuracy=0.0, mae=0.0))
    _, weights = weights_of(strategy)
    assert weights["digit"].item() == pytest.approx(-(1 - 1e-3) * math.log(1e-3), rel=1e-6)
    assert weights["size"].item() == 0.0  # a perfect task lets go entirely


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("dtp"))  # epoch 2's weights come from epoch 1's KPIs


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gamma": -1.0}, "gamma must be a finite number >= 0, got -1.0"),
        ({"gamma": {"digit": 1.0, "size": -2.0}}, "gamma.size must be >= 0, got -2.0"),
        ({"gamma": {"digit": 1.0}}, r"gamma is missing task\(s\) \['size'\]"),
        ({"alpha": 0.0}, r"alpha must be a number in \(0, 1\], got 0.0"),
        ({"alpha": 1.5}, r"alpha must be a number in \(0, 1\]"),
    ],
)
def test_bad_options_raise_a_clear_error(options, message):
    with pytest.raises(MimoBenchError, match=f"strategy 'dtp': {message}"):
        DTP(TASKS, **options)
