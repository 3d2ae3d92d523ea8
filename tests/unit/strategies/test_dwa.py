"""dwa: weights K softmax(r / T) from the last two epochs' mean losses; a resumed run continues bit-identically."""

from __future__ import annotations

import math

import torch

from strategies.dwa import DWA
from tests.unit.gradient.common import assert_bit_identical, glyphs_trainer, resumed_equals_straight
from tests.unit.strategies.steps import THREE, scalar_context

LOSSES = {"a": torch.tensor(2.0), "b": torch.tensor(3.0), "c": torch.tensor(5.0)}


def by_hand(rates: list[float], temperature: float) -> list[float]:
    """K exp(r_k / T) / sum_i exp(r_i / T), in plain floats."""
    exps = [math.exp(r / temperature) for r in rates]
    return [len(rates) * e / sum(exps) for e in exps]


def weights_of(strategy: DWA) -> list[float]:
    _, weights = strategy.combine(scalar_context(LOSSES))
    return [float(weights[n]) for n in ("a", "b", "c")]


def test_weights_are_one_for_two_epochs_then_the_softmax_of_the_loss_ratios():
    strategy = DWA(THREE, temperature=0.5)
    assert weights_of(strategy) == [1.0, 1.0, 1.0]  # epoch 1
    strategy.end_epoch(1, {"a": 2.0, "b": 1.0, "c": 4.0}, {})
    assert weights_of(strategy) == [1.0, 1.0, 1.0]  # epoch 2: one epoch mean is not a rate
    strategy.end_epoch(2, {"a": 1.0, "b": 0.9, "c": 1.0}, {})
    expected = by_hand([1.0 / 2.0, 0.9 / 1.0, 1.0 / 4.0], 0.5)  # epoch 3: r = L(2) / L(1)
    torch.testing.assert_close(torch.tensor(weights_of(strategy)), torch.tensor(expected))
    assert expected[1] > expected[0] > expected[2]  # the task that fell least gets the most weight
    total, _ = strategy.combine(scalar_context(LOSSES))
    torch.testing.assert_close(
        total, torch.tensor(sum(w * float(v) for w, v in zip(expected, LOSSES.values(), strict=True)))
    )

    strategy.end_epoch(3, {"a": 0.8, "b": 0.45, "c": 0.9}, {})  # epoch 4: r = L(3) / L(2), not L(3) / L(1)
    torch.testing.assert_close(torch.tensor(weights_of(strategy)), torch.tensor(by_hand([0.8, 0.5, 0.9], 0.5)))


def test_a_larger_temperature_gives_more_uniform_weights_summing_to_the_task_count():
    spreads = []
    for temperature in (0.1, 2.0, 50.0):
        strategy = DWA(THREE, temperature=temperature)
        strategy.end_epoch(1, {"a": 1.0, "b": 1.0, "c": 1.0}, {})
        strategy.end_epoch(2, {"a": 0.5, "b": 1.0, "c": 0.9}, {})
        weights = weights_of(strategy)
        assert math.isclose(sum(weights), 3.0, rel_tol=1e-6)
        spreads.append(max(weights) - min(weights))
    assert spreads[0] > spreads[1] > spreads[2] > 0


def test_the_trainer_logs_the_formula_of_its_own_epoch_mean_train_losses():
    trainer = glyphs_trainer("dwa")
    history = [trainer.train_epoch() for _ in range(3)]
    names = trainer.names
    for epoch in history[:2]:
        assert [epoch[f"weight/{n}"] for n in names] == [1.0] * len(names)
    rates = [history[1][f"train/{n}/loss"] / history[0][f"train/{n}/loss"] for n in names]
    logged = torch.tensor([history[2][f"weight/{n}"] for n in names])
    torch.testing.assert_close(logged, torch.tensor(by_hand(rates, 2.0)), rtol=1e-5, atol=0)
    assert not torch.allclose(logged, torch.ones(len(names)), rtol=1e-5, atol=0)  # epoch 3 is not uniform


def test_resumed_run_continues_bit_identically_at_every_epoch_of_the_history():
    assert_bit_identical(*resumed_equals_straight("dwa", epochs=3, resume_after=1, temperature=0.05))  # L(1) saved
    assert_bit_identical(*resumed_equals_straight("dwa", epochs=3, resume_after=2, temperature=0.05))  # weights saved
