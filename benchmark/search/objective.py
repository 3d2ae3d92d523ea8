"""What a search trial is worth: its strategy options sampled, trained as a tracked MLflow run, scored.

Single objective: one val metric, or the joint score J = mean_t q_t with q_t = m_t / m_t(sum) for a
metric where higher is better and q_t = m_t(sum) / m_t where lower is better (m: the task's primary
val metric at the best-val epoch; sum: the `sum` strategy on the same seed), so J > 1 beats the plain
sum.  ``objective = "pareto"``: one val metric per task.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from benchmark.api.problem import TaskSpec
from benchmark.api.registry import STRATEGIES
from benchmark.run.progress import SuiteProgress
from benchmark.run.records import StopRun, run_tags
from benchmark.run.runner import SuiteRunner
from benchmark.suite.optimizer_space import sample_optimizer
from benchmark.suite.plan import RunSpec, expand
from benchmark.suite.schema import StrategyEntry
from benchmark.suite.search import NarrowedTrial, SearchConfig
from benchmark.tracking.claims import Claim, owner_id
from benchmark.tracking.filters import best_epoch_for

Space = Callable[[Any, Sequence[TaskSpec]], dict[str, Any]]  # (trial, tasks) -> strategy options


class TrialFailed(Exception):
    """The trial's run failed (recorded in MLflow); Optuna marks the trial FAIL and the study goes on."""


@dataclass(frozen=True)
class Scoring:
    """How a run's best-epoch val metrics become the study's objective values (module docstring)."""

    search: SearchConfig
    tasks: tuple[TaskSpec, ...]

    def directions(self) -> list[str]:
        if self.search.objective == "joint":
            return ["maximize"]
        if self.search.multi_objective:
            return [_direction(t, t.primary_metric) for t in self.tasks]
        _, task_name, metric = self.search.objective.split("/")
        return [_direction(next(t for t in self.tasks if t.name == task_name), metric)]

    def values(self, val: dict[str, float], baseline: dict[str, float]) -> list[float]:
        if self.search.multi_objective:
            return [val[f"val/{t.name}/{t.primary_metric}"] for t in self.tasks]
        return [self.score(val, baseline)]

    def score(self, val: dict[str, float], baseline: dict[str, float]) -> float:
        """The single objective: one val metric, or the joint score J (module docstring)."""
        if self.search.objective != "joint":
            return val[self.search.objective]
        ratios = []
        for task in self.tasks:
            key = f"val/{task.name}/{task.primary_metric}"
            higher = task.metrics[task.primary_metric]
            ratios.append(val[key] / baseline[key] if higher else baseline[key] / max(val[key], 1e-12))
        return sum(ratios) / len(ratios)


class TrialObjective:
    """What Optuna calls for each trial of one strategy configuration's study.

    It samples the strategy's options (and the lr with ``search_lr``), trains them on the search seed as
    a nested run of the study's run, reports each epoch's score to the pruner and returns the objective
    value(s); a pruned trial raises `optuna.TrialPruned`, a failed one `TrialFailed`.
    """

    def __init__(
        self,
        runner: SuiteRunner,
        entry: StrategyEntry,
        seed: int,
        scoring: Scoring,
        experiment_id: str,
        parent_run_id: str,
        baseline: dict[str, float],
        space: Space | None = None,
    ):
        """``space``: the trial's strategy options instead of the strategy's own ``search_space``."""
        self.runner, self.entry, self.seed, self.scoring = runner, entry, seed, scoring
        self.experiment_id, self.parent_run_id, self.baseline = experiment_id, parent_run_id, baseline
        self.cls = STRATEGIES.get(entry.name)
        self.space = space or self.cls.search_space
        self.base = next(s for s in expand(runner.suite, runner.device, runner.threads) if s.seed == seed)

    def __call__(self, trial: optuna.Trial, progress: SuiteProgress) -> float | list[float]:
        entry, suite, search, scoring = self.entry, self.runner.suite, self.scoring.search, self.scoring
        params = {
            **entry.params,
            **self.space(NarrowedTrial(trial, search.space.get(entry.label, {})), scoring.tasks),
        }
        optimizer = sample_optimizer(trial, suite.path, suite.optimizer, search.optimizer_space, suite.epochs)
        definition = {
            **self.base.definition,
            "optimizer": optimizer,
            "strategy": {"name": entry.name, **params},
            "trial": trial.number,
            "study": f"{suite.name}/{entry.label}",
        }
        spec = RunSpec(StrategyEntry(entry.name, entry.label, params), self.seed, definition)
        tags = {
            **run_tags(suite, spec),
            "kind": "trial",
            "trial": trial.number,
            "study": definition["study"],
            "owner": owner_id(),
        }
        run_params = {
            "trial": trial.number,
            **{f"strategy.{k}": v for k, v in params.items()},
            **{f"optimizer.{k}": v for k, v in optimizer.items()},
        }
        log = self.runner.tracker.start_run(
            self.experiment_id, f"{entry.label}/trial-{trial.number}", tags, run_params, self.parent_run_id
        )
        trial.set_user_attr("run_id", log.run_id)

        def report(epoch: int, metrics: dict[str, float]) -> None:
            if not search.multi_objective:
                trial.report(scoring.score(metrics, self.baseline), epoch)
                if trial.should_prune():
                    raise StopRun(f"pruned by Optuna after epoch {epoch}")

        outcome = self.runner.train_claimed(spec, Claim("start", log.run_id, log), progress, report)
        if outcome.status == "STOPPED":
            log.tags({"optuna_state": "PRUNED"})
            raise optuna.TrialPruned(outcome.reason)
        if outcome.status != "FINISHED":
            raise TrialFailed(outcome.reason)
        values = scoring.values(outcome.val_metrics, self.baseline)
        log.tags({"optuna_state": "COMPLETE", "objective": json.dumps(values)})
        return values if len(values) > 1 else values[0]


def best_val_metrics(client, run_id: str) -> dict[str, float]:
    """A finished run's val metrics at its best-val epoch, read back from MLflow."""
    metrics = client.get_run(run_id).data.metrics
    values = {}
    for key in metrics:
        if key.startswith("val/"):
            epoch = best_epoch_for(metrics, key)
            values[key] = next(m.value for m in client.get_metric_history(run_id, key) if m.step == epoch)
    return values


def _direction(task: TaskSpec, metric: str) -> str:
    return "maximize" if task.metrics[metric] else "minimize"
