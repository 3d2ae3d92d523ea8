"""The report's verdict on hand-made numbers: per-seed Δm%, the probability of being best, the seeds a
difference needs, and the sentences for one seed, for a clear winner, for ties and for mixed results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.report.stats import TaskMetric, delta_m, paired_tests, strategy_table
from benchmark.report.verdict import decide, probability_best, seed_delta_m, seeds_needed

ACCURACY, MAE = TaskMetric("a", "accuracy", True), TaskMetric("b", "mae", False)
PRIMARY = [ACCURACY, MAE]


def runs_of(values: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    """One finished run per (label, seed): ``values[label][seed] = (accuracy of a, MAE of b)``."""
    rows = [
        {"label": label, "seed": seed, "counts": True, "test/a/accuracy": accuracy, "test/b/mae": mae}
        for label, per_seed in values.items()
        for seed, (accuracy, mae) in enumerate(per_seed)
    ]
    return pd.DataFrame(rows)


def verdict_of(values: dict[str, list[tuple[float, float]]]):
    runs = runs_of(values)
    table = strategy_table(runs, PRIMARY)
    return decide(runs, "sum", PRIMARY, delta_m(table, "sum", PRIMARY), paired_tests(runs, "sum", PRIMARY))


def test_per_seed_delta_m_averages_to_the_tables_delta_m():
    runs = runs_of({"sum": [(0.5, 10.0), (0.6, 12.0)], "x": [(0.55, 9.0), (0.75, 10.0)]})
    per_seed = seed_delta_m(runs, "sum", PRIMARY)
    # against sum's means (accuracy 0.55, MAE 11): seed 1 of x is (+0.20 / 0.55 - (10 - 11) / 11) / 2 * 100
    assert per_seed.loc[1, "x"] == pytest.approx((0.20 / 0.55 + 1 / 11) / 2 * 100)
    assert per_seed.loc[0, "x"] == pytest.approx((0.0 + 2 / 11) / 2 * 100)
    table = strategy_table(runs, PRIMARY)
    assert per_seed.mean().to_dict() == pytest.approx(delta_m(table, "sum", PRIMARY).to_dict())


def test_probability_best_resamples_seeds_together_and_is_reproducible():
    clear = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 6.0, 7.0]})
    assert probability_best(clear).to_dict() == {"a": 0.0, "b": 1.0}
    # b beats a on seeds 0 and 1, loses badly on seed 2: b is best unless seed 2 dominates the resample
    close = pd.DataFrame({"a": [0.0, 0.0, 10.0], "b": [1.0, 1.0, 0.0]})
    shares = probability_best(close, resamples=20000)
    assert shares.sum() == pytest.approx(1.0)
    # b wins when seed 2 is drawn at most once in three, and then only if 10 * k2 < 3 - k2... i.e. k2 = 0:
    # P(no seed 2 in 3 draws) = (2/3)^3
    assert shares["b"] == pytest.approx((2 / 3) ** 3, abs=0.01)
    assert probability_best(close, resamples=500).equals(probability_best(close, resamples=500))


def test_seeds_needed_matches_the_paired_t_power_by_hand():
    differences = [0.0, 1.0, 2.0, 1.0, 1.0]  # mean 1, sample std sqrt(0.5): effect size sqrt(2)
    n = seeds_needed(differences)
    effect = 1 / math.sqrt(0.5)

    def power(k: int) -> float:
        critical = stats.t.ppf(0.975, k - 1)
        return 1 - stats.nct.cdf(critical, k - 1, effect * math.sqrt(k))

    assert power(n) >= 0.8 and (n == 3 or power(n - 1) < 0.8)
    assert seeds_needed([-1.0, 3.0, 1.0, 1.0, 0.0, 2.0]) > n  # the same mean, more spread: more seeds
    assert seeds_needed([1.0]) is None and seeds_needed([1.0, 1.0]) is None  # no spread known
    assert seeds_needed([1e-6, -1e-6, -2e-6, 2.1e-6]) is None  # a difference lost in its noise: beyond MOST_SEEDS


def test_one_seed_concludes_nothing_and_says_how_many_seeds_to_run():
    verdict = verdict_of({"sum": [(0.5, 10.0)], "x": [(0.8, 8.0)], "y": [(0.6, 9.0)]})
    assert verdict.winner == "x"
    assert verdict.text.startswith("Nothing can be concluded from one seed: x has the best Δm% against sum")
    assert "Run at least 3 seeds" in verdict.text and "then y" in verdict.text


def test_a_clear_winner_with_a_tie_names_both_and_the_seeds_to_separate_them():
    noise = [0.0, 0.01, -0.01, 0.02, -0.02]
    verdict = verdict_of(
        {
            "sum": [(0.50 + e, 10.0 - 10 * e) for e in noise],
            "x": [(0.80 + e, 7.0 - 10 * e) for e in noise],  # much better than sum on both tasks, every seed
            "y": [(0.78 + e + 0.02 * (-1) ** i, 7.0 - 10 * e) for i, e in enumerate(noise)],  # x within noise
        }
    )
    assert verdict.winner == "x" and verdict.seeds == 5
    assert verdict.tied == ["y"] and verdict.beaten == ["sum"]
    assert "better than sum on 2 of 2 tasks" in verdict.text
    assert "Pick x; y does as well as far as 5 seeds can tell" in verdict.text
    assert "not told apart from y on any task" in verdict.text
    assert verdict.p_best["x"] > verdict.p_best["y"] > 0 and verdict.p_best["sum"] == 0
    low, high = verdict.ci
    assert low < verdict.delta_m < high and high - low < 10
    assert f"about {verdict.seeds_needed} seeds" in verdict.text


def test_a_strategy_better_on_one_task_is_named_with_that_task():
    jitter = [0.0, 0.004, -0.004, 0.002]
    verdict = verdict_of(
        {
            "sum": [(0.50 + e, 10.0 + e) for e in jitter],
            "x": [(0.90 + e, 9.0 + e) for e in jitter],  # far better accuracy
            "z": [(0.60 + e, 5.0 + e) for e in jitter],  # better MAE than x, worse accuracy
        }
    )
    assert verdict.winner == "x" and verdict.mixed == {"z": ["b"]}
    assert "but z is better on b" in verdict.text


def test_without_the_baseline_or_with_one_strategy_there_is_no_verdict():
    assert "needs runs of the baseline" in verdict_of({"x": [(0.5, 1.0)], "y": [(0.6, 1.0)]}).text
    assert verdict_of({"sum": [(0.5, 1.0), (0.6, 1.1)]}).text.startswith("Only sum finished")
    assert np.isnan(verdict_of({"sum": [(0.5, 1.0)]}).delta_m)
