"""stch: a smooth max of the nadir-normalised log-losses whose gradient weights are the softmax of the gaps."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.strategy import StepContext
from strategies.stch import STCH
from tests.unit.gradient.common import assert_bit_identical, resumed_equals_straight
from tests.unit.strategies.steps import THREE

LOSSES = [2.0, 9.0, 1.0]
NADIR = {"a": 1.0, "b": 3.0, "c": 4.0}
GAPS = torch.tensor([math.log(2.0), math.log(3.0), math.log(0.25)])  # log(L_t / n_t)


def stch_step(strategy: STCH, epoch: int, losses=LOSSES):
    """The total, the weights and dL/dL_t of the total, at ``epoch``."""
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in zip("abc", losses, strict=True)}
    total, weights = strategy.combine(StepContext(leaves, [], {}, torch.nn.Identity(), 0, epoch))
    total.backward()
    return total.detach(), torch.stack([weights[n] for n in "abc"]), torch.stack([leaves[n].grad for n in "abc"])


def after_warmup(mu: float) -> STCH:
    strategy = STCH(THREE, mu=mu, warmup_epochs=2)
    strategy.end_epoch(1, {"a": 5.0, "b": 5.0, "c": 5.0}, {})  # not the last warm-up epoch: no nadir yet
    assert torch.equal(strategy.nadir, torch.ones(3))
    strategy.end_epoch(2, NADIR, {})
    return strategy


def test_warmup_trains_on_the_sum_of_log_losses_then_the_nadir_is_the_last_warmup_epochs_mean_loss():
    strategy = STCH(THREE, warmup_epochs=2)
    total, weights, gradient = stch_step(strategy, epoch=2)
    torch.testing.assert_close(total, torch.tensor(sum(math.log(v) for v in LOSSES)))
    torch.testing.assert_close(weights, 1 / torch.tensor(LOSSES))
    torch.testing.assert_close(gradient, weights)
    strategy.end_epoch(2, NADIR, {})
    torch.testing.assert_close(strategy.nadir, torch.tensor([1.0, 3.0, 4.0]))


@pytest.mark.parametrize("mu", [1.0, 0.3])
def test_gradient_weights_are_t_times_the_softmax_of_the_gaps_over_mu(mu):
    total, weights, gradient = stch_step(after_warmup(mu), epoch=3)
    softmax = torch.softmax(GAPS / mu, dim=0)
    torch.testing.assert_close(total, 3 * mu * torch.logsumexp(GAPS / mu, dim=0))
    torch.testing.assert_close(weights, 3 * softmax / torch.tensor(LOSSES))  # d total / d L_t = T s_t / L_t
    torch.testing.assert_close(gradient, weights)
    torch.testing.assert_close(weights * torch.tensor(LOSSES) / 3, softmax)  # per log-loss: the softmax


def test_as_mu_goes_to_zero_it_approaches_the_largest_gap_and_all_weight_goes_to_that_task():
    largest = GAPS.max()  # task b: L_b / n_b = 3
    below = largest - GAPS[[0, 2]]  # how far the other gaps are below it
    for mu in (1.0, 0.1, 0.01, 0.001):
        total, weights, _ = stch_step(after_warmup(mu), epoch=3)
        excess = mu * torch.log1p(torch.exp(-below / mu).sum())  # smooth max - max, in (0, mu log T]
        assert float(excess) <= mu * math.log(3)
        torch.testing.assert_close(total / 3 - largest, excess, atol=1e-6, rtol=1e-4)
    assert float(excess) < 1e-6
    torch.testing.assert_close(weights * torch.tensor(LOSSES) / 3, torch.tensor([0.0, 1.0, 0.0]))


def test_no_warmup_uses_the_raw_log_losses():
    total, _, _ = stch_step(STCH(THREE, mu=0.5, warmup_epochs=0), epoch=1)
    torch.testing.assert_close(total, 3 * 0.5 * torch.logsumexp(torch.tensor(LOSSES).log() / 0.5, dim=0))


def test_keeps_the_contract_past_its_warmup(check_strategy):
    check_strategy(STCH, warmup_epochs=1)  # the conformance run's second epoch is smooth Tchebycheff


def test_resumed_run_continues_bit_identically():
    assert_bit_identical(*resumed_equals_straight("stch", warmup_epochs=1))  # the nadir comes from epoch 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mu": 0}, "mu must be a positive number, got 0"),
        ({"mu": math.nan}, "mu must be a positive number"),
        ({"warmup_epochs": -1}, "warmup_epochs must be an integer >= 0, got -1"),
        ({"warmup_epochs": 2.0}, "warmup_epochs must be an integer >= 0"),
    ],
)
def test_bad_options_raise_a_clear_error(options, message):
    with pytest.raises(MimoBenchError, match=f"strategy 'stch': {message}"):
        STCH(THREE, **options)
