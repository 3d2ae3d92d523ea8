"""The report's first lines: which strategy to use on this problem, how sure that is, and against what.

The method, over the strategies with a Δm% (test, primary metric per task, against the baseline):

- **Per-seed Δm%.** Each run's Δm% against the baseline's mean over seeds, so that a strategy's mean
  over its seeds is exactly its Δm% in the table.
- **The winner** is the strategy with the highest Δm%, given with the 95% Student-t interval of its
  per-seed Δm% (a bootstrap interval over 3 seeds would be far too narrow: it can only reshuffle 3 values).
- **How sure.** The probability of being best: the share of `RESAMPLES` bootstrap resamples of the seeds
  (drawn with replacement, the same seeds for every strategy, since one seed is one data split for all;
  a fixed generator, so the report is reproducible) in which the strategy has the highest mean Δm%.
- **Against what.** Paired t-tests over seeds of the winner against every other strategy on each task's
  primary metric, Holm-adjusted over that family (`benchmark.report.stats.paired_tests`); a strategy that
  differs from the winner on no task *cannot be told apart* from it; plus how many of the tasks the
  winner beats the baseline on (the report's own tests against the baseline).
- **Too few seeds.** With one seed nothing can be concluded; with two no paired test runs (it needs
  `MIN_PAIRS`). The verdict then says how many seeds would be needed: at least `MIN_PAIRS`, and, where
  two or more seeds show the spread, the seeds a paired t-test needs to tell the winner's Δm% from the
  runner-up's with 80% power at α = 0.05 (`seeds_needed`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.report.stats import ALPHA, MIN_PAIRS, TaskMetric, describe, paired_tests

RESAMPLES = 4000
POWER = 0.8
MOST_SEEDS = 200  # seeds_needed gives up beyond this (the difference is too small to chase)


@dataclass
class Verdict:
    """The answer in words (``text``) and the numbers behind it."""

    text: str
    winner: str | None = None
    delta_m: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    seeds: int = 0
    p_best: dict[str, float] = field(default_factory=dict)
    tied: list[str] = field(default_factory=list)  # not told apart from the winner on any task
    beaten: list[str] = field(default_factory=list)  # worse than the winner on a task, better on none
    mixed: dict[str, list[str]] = field(default_factory=dict)  # better than the winner on these tasks
    untested: list[str] = field(default_factory=list)  # too few seeds paired with the winner
    seeds_needed: int | None = None


def seed_delta_m(
    runs: pd.DataFrame, baseline: str, primary: Sequence[TaskMetric], prefix: str = "test"
) -> pd.DataFrame:
    """Per-seed Δm% (rows: seeds, columns: labels, NaN where a label has no run on a seed) of every counted
    run against the baseline's mean over its seeds."""
    counted = runs[runs["counts"]]
    reference = counted[counted["label"] == baseline]
    terms = []
    for metric in primary:
        key = metric.key(prefix)
        mean = reference[key].mean()
        sign = 1.0 if metric.higher_is_better else -1.0
        terms.append(sign * (counted[key] - mean) / abs(mean) * 100.0)
    frame = counted.assign(delta=pd.concat(terms, axis=1).mean(axis=1, skipna=False))
    table = frame.pivot_table(index="seed", columns="label", values="delta", aggfunc="mean", dropna=False)
    labels = [label for label in dict.fromkeys(counted["label"]) if label in table.columns]
    return table[labels]


def probability_best(per_seed: pd.DataFrame, resamples: int = RESAMPLES, seed: int = 0) -> pd.Series:
    """Per label, the share of bootstrap resamples of the seeds (rows, drawn with replacement, the same
    draw for every label) in which its mean is the highest (module docstring); labels tied for the highest
    share that resample."""
    values = per_seed.to_numpy(float)
    if values.size == 0:
        return pd.Series(dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a label with none of the drawn seeds: NaN
        means = np.nanmean(values[draws], axis=1)
    means = np.where(np.isnan(means), -np.inf, means)
    best = means == means.max(axis=1, keepdims=True)  # a tie shares the resample's credit
    return pd.Series((best / best.sum(axis=1, keepdims=True)).mean(axis=0), index=per_seed.columns)


def seeds_needed(differences: Sequence[float], power: float = POWER, alpha: float = ALPHA) -> int | None:
    """The fewest seeds with which a two-sided paired t-test at ``alpha`` detects the mean of the per-seed
    ``differences`` with ``power``, their spread taken as observed; None when it cannot be estimated (fewer
    than two differences, no spread or no mean) or exceeds `MOST_SEEDS`."""
    values = np.asarray(differences, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2 or values.std(ddof=1) == 0 or values.mean() == 0:
        return None
    effect = abs(values.mean()) / values.std(ddof=1)
    for n in range(MIN_PAIRS, MOST_SEEDS + 1):
        critical = stats.t.ppf(1 - alpha / 2, n - 1)
        if 1 - stats.nct.cdf(critical, n - 1, effect * math.sqrt(n)) >= power:
            return n
    return None


def decide(
    runs: pd.DataFrame, baseline: str, primary: Sequence[TaskMetric], delta: pd.Series, baseline_tests: pd.DataFrame
) -> Verdict:
    """The verdict from the counted runs, the table's Δm% column and the paired tests against the baseline."""
    candidates = delta.dropna()
    if candidates.empty:
        if baseline not in set(runs["label"]):
            return Verdict(f"No verdict: Δm% needs runs of the baseline, {baseline}; add it to the suite.")
        return Verdict("No verdict: no strategy has a finished run.")
    if len(candidates) == 1:
        return Verdict(f"Only {candidates.index[0]} finished: there is nothing to compare it with.")
    per_seed = seed_delta_m(runs, baseline, primary)[list(candidates.index)]
    winner = str(candidates.idxmax())
    own = per_seed[winner].dropna()
    summary = describe(own.tolist())
    runner_up = str(candidates.drop(winner).idxmax())
    verdict = Verdict("", winner, float(candidates[winner]), (summary["ci_low"], summary["ci_high"]), len(own))
    verdict.p_best = probability_best(per_seed).to_dict()
    verdict.seeds_needed = seeds_needed((per_seed[winner] - per_seed[runner_up]).tolist())
    if len(own) < MIN_PAIRS:
        verdict.text = _too_few_seeds(verdict, baseline, runner_up, candidates, per_seed.count().max() < 2)
        return verdict
    _against_the_others(verdict, runs, primary)
    verdict.text = _sentences(verdict, baseline, baseline_tests, primary, runner_up)
    return verdict


def _against_the_others(verdict: Verdict, runs: pd.DataFrame, primary: Sequence[TaskMetric]) -> None:
    """Sort the other strategies by what the paired tests against the winner say."""
    tests = paired_tests(runs, verdict.winner, primary)
    for label, group in tests.groupby("strategy", sort=False):
        if (group["pairs"] < MIN_PAIRS).all():
            verdict.untested.append(str(label))
            continue
        significant = group[group["significant"]]
        better = [row["task"] for _, row in significant.iterrows() if _favours(row, primary)]
        if better:
            verdict.mixed[str(label)] = better
        elif len(significant):
            verdict.beaten.append(str(label))
        else:
            verdict.tied.append(str(label))


def _favours(test: pd.Series, primary: Sequence[TaskMetric]) -> bool:
    """Whether a paired test's ``strategy`` did better than the strategy it was tested against."""
    higher = next(m for m in primary if m.task == test["task"]).higher_is_better
    return (test["mean difference"] > 0) == higher


def _sentences(
    verdict: Verdict, baseline: str, baseline_tests: pd.DataFrame, primary: Sequence[TaskMetric], runner_up: str
) -> str:
    low, high = verdict.ci
    numbers = (
        f"{verdict.delta_m:+.1f}%, 95% CI [{low:+.1f}, {high:+.1f}] over {verdict.seeds} seeds; best in "
        f"{verdict.p_best.get(verdict.winner, 0.0):.0%} of bootstrap resamples of the seeds"
    )
    if verdict.winner == baseline:
        first = f"{baseline}, the baseline, has the best Δm% ({numbers}): every other strategy does worse on it"
    else:
        own = baseline_tests[(baseline_tests["strategy"] == verdict.winner) & baseline_tests["significant"]]
        wins = sum(_favours(row, primary) for _, row in own.iterrows())
        first = (
            f"{verdict.winner}: best Δm% against {baseline} ({numbers}), better than {baseline} on {wins} of "
            f"{len(primary)} tasks (paired t-test over seeds, Holm p < 0.05)"
        )
    if verdict.tied:
        first += f"; not told apart from {_listed(verdict.tied)} on any task"
    beaten = [label for label in verdict.beaten if label != baseline]
    if beaten:
        first += f"; better than {_listed(beaten)} on at least one task and worse on none"
    second = f"Pick {verdict.winner}"
    if verdict.tied:
        verb = "does" if len(verdict.tied) == 1 else "do"
        second += f"; {_listed(verdict.tied)} {verb} as well as far as {verdict.seeds} seeds can tell"
    if verdict.mixed:
        second += "; but " + "; ".join(f"{label} is better on {', '.join(t)}" for label, t in verdict.mixed.items())
    if verdict.untested:
        second += f" ({_listed(verdict.untested)}: too few seeds to test)"
    if verdict.tied and verdict.seeds_needed:
        second += f". Telling it from {runner_up} on Δm% would take about {verdict.seeds_needed} seeds"
    return f"{first}. {second}."


def _too_few_seeds(verdict: Verdict, baseline: str, runner_up: str, delta: pd.Series, one_seed: bool) -> str:
    needed = max(MIN_PAIRS, verdict.seeds_needed or MIN_PAIRS)
    estimate = f" (about {verdict.seeds_needed} to tell it from {runner_up} on Δm%)" if verdict.seeds_needed else ""
    best = (
        f"{verdict.winner} has the best Δm% against {baseline} ({verdict.delta_m:+.1f}%, then {runner_up} "
        f"{delta[runner_up]:+.1f}%)"
    )
    if one_seed:
        return f"Nothing can be concluded from one seed: {best}, but the spread over seeds is unknown. Run at least {needed} seeds."
    return (
        f"Nothing can be concluded yet: {best}, but from only {verdict.seeds} finished seed(s), too few for a "
        f"paired test. Run at least {needed} seeds{estimate}."
    )


def _listed(labels: Sequence[str], conjunction: str = "and") -> str:
    labels = list(labels)
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} {conjunction} {labels[-1]}"
