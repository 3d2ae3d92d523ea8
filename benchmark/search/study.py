"""`mimo-bench search`: an Optuna study per searched strategy; every trial is a tracked MLflow run.

The study lives in an Optuna storage (by default a journal file beside the local MLflow store) under
the name ``<suite>/<strategy label>``, so running the same command again resumes it up to its total
budget.  Single objective: TPE with per-epoch pruning; ``objective = "pareto"``: NSGA-II over one
val metric per task.  What a trial is and how it is scored (the joint score J against `sum`):
`benchmark.search.objective`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna

from benchmark.api.errors import MimoBenchError
from benchmark.api.registry import baseline_strategy
from benchmark.queue.storages import default_storage, open_storage
from benchmark.run.progress import SuiteProgress
from benchmark.run.runner import SuiteRunner
from benchmark.search.export import export_suite
from benchmark.search.objective import Scoring, Space, TrialFailed, TrialObjective, best_val_metrics
from benchmark.search.plot import plot_trials
from benchmark.search.stale import settle_left_behind
from benchmark.search.workers import run_workers
from benchmark.suite.plan import expand
from benchmark.suite.schema import StrategyEntry, Suite
from benchmark.tracking.claims import owner_id
from benchmark.tracking.filters import tag_filter
from benchmark.tracking.runlog import RunLog

optuna.logging.set_verbosity(optuna.logging.WARNING)
DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class StudyResult:
    """What one study ended with."""

    label: str
    study_name: str
    trials: int  # complete + pruned
    best: list[optuna.trial.FrozenTrial]  # the best trial, or the Pareto set


class StudyRunner:
    """Runs the suite's ``[search]``: one study per searched strategy configuration."""

    def __init__(
        self,
        suite: Suite,
        storage: str | None = None,
        show_progress: bool = True,
        threads: int | None = None,
        study_tags: dict[str, str] | None = None,
        space: Space | None = None,
    ):
        """``study_tags``: more tags for each study's MLflow run (the static front's marks its purpose);
        ``space``: the trials' strategy options instead of the strategy's own search space."""
        self.study_tags, self.space = study_tags or {}, space
        if suite.search is None:
            raise MimoBenchError(f"{suite.path}: no [search] table; add one naming the strategies to search")
        self.suite, self.search = suite, suite.search
        self.storage_url = storage or default_storage(suite.tracking_uri)
        self.storage = open_storage(self.storage_url)
        queue = None if self.storage_url.startswith("sqlite") else self.storage_url  # else the local journal
        self.runner = SuiteRunner(suite, show_progress=show_progress, threads=threads, storage=queue)
        self.tasks = self.runner.problem.tasks
        self.seed = suite.seeds[0]
        self.scoring = Scoring(self.search, self.tasks)

    def run(self, jobs: int = 1) -> list[StudyResult]:
        """Every study of the suite, one after another; ``jobs`` > 1 runs that many worker processes each."""
        return [self.run_study(label, jobs) for label in self.search.strategies]

    def work(self, labels: list[str] | None = None) -> None:
        """Join the studies as one more worker (another process or machine) until their budgets are met."""
        for label in labels or []:
            if label not in self.search.strategies:
                raise MimoBenchError(
                    f"--study {label!r} is not searched; searched: {', '.join(self.search.strategies)}"
                )
        for label in labels or self.search.strategies:
            study, parent, baseline = self.join(label)
            with closed_on_error(parent):
                self.optimize(study, label, parent.run_id, baseline)
            self.log_outcome(parent, study, self.best(study))  # idempotent: every worker may write it
            parent.finish("FINISHED")

    # -- one study -------------------------------------------------------------------------
    def run_study(self, label: str, jobs: int = 1) -> StudyResult:
        study, parent, baseline = self.join(label)
        with closed_on_error(parent):
            if jobs > 1:
                self.spawn_workers(study, label, jobs)
            else:
                self.optimize(study, label, parent.run_id, baseline)
        best = self.best(study)
        self.log_outcome(parent, study, best)
        parent.finish("FINISHED")
        return StudyResult(label, study.study_name, len(study.get_trials(deepcopy=False, states=DONE)), best)

    def join(self, label: str) -> tuple[optuna.Study, RunLog, dict[str, float]]:
        """The study (created on first use), its MLflow run, and the joint objective's baseline."""
        study = optuna.create_study(
            study_name=f"{self.suite.name}/{label}",
            storage=self.storage,
            load_if_exists=True,
            directions=self.scoring.directions(),
            sampler=self.sampler(f"{self.suite.name}/{label}"),
            pruner=self.pruner(),
        )
        experiment_id = self.runner.tracker.experiment(self.suite.name)
        settle_left_behind(study, self.runner.tracker.client, experiment_id)
        parent = self.study_run(experiment_id, study.study_name, label)
        baseline = self.baseline(experiment_id, parent.run_id) if self.search.objective == "joint" else {}
        return study, parent, baseline

    def study_run(self, experiment_id: str, study_name: str, label: str) -> RunLog:
        """The one MLflow run of a study, shared by every invocation and worker: created by the one process that
        takes its unit from the work queue, while the others wait for it."""
        tracker, queue = self.runner.tracker, self.runner.queue
        query = tag_filter(kind="study", study=study_name)
        key = f"study-run/{study_name}"
        while True:
            found = tracker.client.search_runs([experiment_id], query, order_by=["attributes.start_time ASC"])
            if found:
                return tracker.reopen(found[0].info.run_id)
            queue.add([{"key": key}])
            if (unit := queue.take({key})) is None:
                time.sleep(0.5)  # another process is creating it
                continue
            if not tracker.client.search_runs([experiment_id], query):
                tracker.start_run(
                    experiment_id,
                    f"search {label}",
                    {
                        "kind": "study",
                        "study": study_name,
                        "strategy": label,
                        "suite": self.suite.name,
                        **self.study_tags,
                    },
                    {
                        "sampler": self.search.sampler_name(),
                        "pruner": self.search.pruner,
                        "objective": self.search.objective,
                        "trials": self.search.trials,
                        "space": json.dumps(self.search.space.get(label, {})),
                        "search_lr": self.search.search_lr,
                        "optimizer_space": json.dumps(self.search.optimizer_space),
                    },
                )
            queue.done(unit, True)

    def optimize(self, study: optuna.Study, label: str, parent_run_id: str, baseline: dict[str, float]) -> None:
        """Ask, train and tell trials until the study's budget of complete and pruned trials is met, or
        until ``max_failed`` of this process's trials have failed."""
        entry = next(e for e in self.suite.strategies if e.label == label)
        experiment_id = self.runner.tracker.experiment(self.suite.name)
        remaining = self.search.trials - len(study.get_trials(deepcopy=False, states=DONE))
        objective = TrialObjective(
            self.runner, entry, self.seed, self.scoring, experiment_id, parent_run_id, baseline, self.space
        )
        failed = 0
        with SuiteProgress(max(remaining, 0), enabled=self.runner.show_progress) as progress:
            while len(study.get_trials(deepcopy=False, states=DONE)) < self.search.trials:
                trial = study.ask()
                trial.set_user_attr("owner", owner_id())  # so another process can tell when it is left behind
                settle_left_behind(study, self.runner.tracker.client, experiment_id)
                if self.surplus(study, trial):
                    trial.set_user_attr("surplus", "asked after the budget was taken by other workers")
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    break
                try:
                    study.tell(trial, objective(trial, progress))
                except optuna.TrialPruned:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                except TrialFailed as failure:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    failed += 1
                    if failed >= self.search.max_failed:
                        raise MimoBenchError(
                            f"study {study.study_name}: stopped after {failed} failed trials ([search] max_failed = "
                            f"{self.search.max_failed}); the last: {_first_line(str(failure))}"
                        ) from None
                except BaseException:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    raise
                progress.end_run()

    def surplus(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """Whether earlier trials (done, or running in a live process) already take the whole budget."""
        taken = (*DONE, optuna.trial.TrialState.RUNNING)
        earlier = [t for t in study.get_trials(deepcopy=False, states=taken) if t.number < trial.number]
        return len(earlier) >= self.search.trials

    def spawn_workers(self, study: optuna.Study, label: str, jobs: int) -> None:
        """Run ``jobs`` worker processes on this study (each trains on one CPU thread, as every run does)."""
        with SuiteProgress(self.search.trials, enabled=self.runner.show_progress) as progress:

            def show() -> None:
                done = len(study.get_trials(deepcopy=False, states=DONE))
                progress.progress.update(progress.suite_bar, completed=done)

            run_workers(self.suite.path, label, jobs, self.storage_url, self.suite.tracking_uri, show)

    def sampler(self, study_name: str | None = None) -> optuna.samplers.BaseSampler:
        """The study's sampler, seeded by the search seed; for a study resumed with trials already in it, by
        the seed and their count, so that a resumed random draw does not repeat the first invocation's."""
        seed, done = self.seed, self._trials_so_far(study_name) if study_name else 0
        if done:
            seed = int.from_bytes(hashlib.sha256(f"{self.seed}:{done}".encode()).digest()[:4], "big")
        name = self.search.sampler_name()
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # parallel workers spread out

    def _trials_so_far(self, study_name: str) -> int:
        try:
            return len(optuna.load_study(study_name=study_name, storage=self.storage).get_trials(deepcopy=False))
        except KeyError:  # no such study yet
            return 0

    def pruner(self) -> optuna.pruners.BasePruner:
        if self.search.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
        if self.search.pruner == "halving":
            return optuna.pruners.SuccessiveHalvingPruner()
        return optuna.pruners.NopPruner()

    def baseline(self, experiment_id: str, parent_run_id: str) -> dict[str, float]:
        """The `sum` strategy's best-epoch val metrics on the search seed (reused if it ran before).

        Through the work queue: if another worker is training it, wait for that run rather than train it twice.
        """
        name = baseline_strategy()
        sum_suite = dataclasses.replace(self.suite, strategies=(StrategyEntry(name, name, {}),))
        (spec,) = [s for s in expand(sum_suite, self.runner.device, self.runner.threads) if s.seed == self.seed]
        with SuiteProgress(1, enabled=self.runner.show_progress) as progress:
            (outcome,) = self.runner.train_all([spec], experiment_id, parent_run_id, progress)
        if outcome.status in ("EARLIER", "ELSEWHERE"):
            return best_val_metrics(self.runner.tracker.client, outcome.run_id)
        if outcome.status != "FINISHED":
            raise MimoBenchError(f"the sum baseline for the joint objective did not finish: {outcome.reason}")
        return outcome.val_metrics

    def best(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            return []
        return list(study.best_trials) if self.search.multi_objective else [study.best_trial]

    def log_outcome(self, parent, study: optuna.Study, best: list[optuna.trial.FrozenTrial]) -> None:
        """The best trial (or the Pareto set) as tags, the trials as CSV, and a plot."""
        frame = study.trials_dataframe()
        parent.text(frame.to_csv(index=False), "trials.csv")
        if best:
            chosen = frame[frame["number"].isin([t.number for t in best])]
            parent.text(chosen.to_csv(index=False), "best_trials.csv")
            parent.tags({"best_trials": ",".join(str(t.number) for t in best)})
            if not self.search.multi_objective:
                # tags, not params: the best changes as workers end and as a resumed study goes on
                parent.tags({f"best.{k}": v for k, v in best[0].params.items()} | {"best.value": best[0].value})
            parent.file(lambda path: plot_trials(study, best, self.tasks, self.search, path), "trials.png")

    def export_suite(self, result: StudyResult, path: Path) -> None:
        """Write the winner (and the sum baseline) as a ready suite to rerun over more seeds."""
        export_suite(self.suite, self.tasks, result.label, result.study_name, result.best, path)


@contextlib.contextmanager
def closed_on_error(parent: RunLog) -> Iterator[None]:
    """A study's run ends KILLED when the search is interrupted, FAILED (with the reason) when it stops."""
    try:
        yield
    except KeyboardInterrupt:
        parent.finish("KILLED")
        raise
    except MimoBenchError as error:
        parent.tags({"failure_reason": str(error)[:5000]})
        parent.finish("FAILED")
        raise


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "(no reason given)"
