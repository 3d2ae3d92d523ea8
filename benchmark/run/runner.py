"""Run a suite: expand strategies x seeds, train each, track it, print the summary.

Idempotent and resumable: a run whose key already has a FINISHED run is skipped, an interrupted
run continues from its last epoch checkpoint, and each run is trained by the one process that takes it
from the suite's work queue (`benchmark.run.dispatch`), whichever invocation or worker that is.  A failing run is recorded as FAILED with its reason and the suite
goes on; Ctrl-C marks the current run KILLED (resumable) and re-raises.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import Problem, ProblemData
from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.queue.storages import default_storage
from benchmark.queue.work import WorkQueue
from benchmark.run.dispatch import train_through_queue
from benchmark.run.processes import resolve_jobs
from benchmark.run.progress import SuiteProgress, failure_line
from benchmark.run.records import (
    RunOutcome,
    StopRun,
    checkpoint,
    failure_reason,
    logged_test_metrics,
    metrics_by_model_epoch,
    run_params,
    run_tags,
)
from benchmark.run.stopping import STOP
from benchmark.run.summary import summary_markdown
from benchmark.suite.plan import DEFAULT_THREADS, RunSpec, coverage_tags, expand, resolve_device
from benchmark.suite.schema import Suite
from benchmark.suite.toml import to_toml
from benchmark.tracking.claims import HEARTBEAT_EVERY, Claim, claim, decide, ownership, retire_stale_parents
from benchmark.tracking.runlog import Heartbeat, RunLog
from benchmark.tracking.store import Tracker
from benchmark.tracking.views import headline_metrics
from benchmark.train.model import ModelConfig
from benchmark.train.single_task import SingleTaskTrainers
from benchmark.train.trainer import TrainConfig, Trainer

if TYPE_CHECKING:
    from benchmark.report.analysis import Report


def set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads and one inter-op thread (more inter-op threads changed nothing here)."""
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # refused once inter-op work has started; its count is harmless
        torch.set_num_interop_threads(1)


def model_config(suite: Suite) -> ModelConfig:
    return ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in suite.model.items()})


class SuiteRunner:
    """Runs one suite invocation against one tracking store."""

    def __init__(
        self,
        suite: Suite,
        show_progress: bool = True,
        force: bool = False,
        threads: int | None = None,
        storage: str | None = None,
        ray_address: str | None = None,
    ):
        """``threads``: CPU threads per run (default `DEFAULT_THREADS`, so every run gives the same numbers
        whatever ``jobs`` and machine; more threads change the last bits of the results); ``storage``: the
        Optuna storage of the work queue (default: a journal file beside a local store); ``ray_address``: train
        the runs as tasks on that Ray cluster (`benchmark.run.ray_executor`)."""
        self.suite = suite
        self.threads = threads or DEFAULT_THREADS
        set_threads(self.threads)
        self.device = resolve_device(suite.device)
        self.tracker = Tracker(suite.tracking_uri)
        self.show_progress = show_progress
        self.force = force
        self.storage_url = storage or default_storage(suite.tracking_uri)
        self.ray_address = ray_address
        self._data: dict[int, ProblemData] = {}
        self.report: Report | None = None  # made at the end of `run`
        self.parent_run_id: str | None = None  # the parent run of `run`

    @functools.cached_property
    def queue(self) -> WorkQueue:
        """The work queue of the suite's experiment in this store, opened on first use (a dry run opens none);
        named by the experiment's id and creation time, so that two stores never share one."""
        experiment = self.tracker.client.get_experiment(self.tracker.experiment(self.suite.name))
        return WorkQueue(
            self.storage_url, f"runs/{self.suite.name}/{experiment.experiment_id}-{experiment.creation_time}"
        )

    @functools.cached_property
    def problem(self) -> Problem:
        """The suite's problem, built on first use (`plan` needs none, so --dry-run imports no plugin)."""
        return PROBLEMS.get(self.suite.problem)(**self.suite.problem_options)

    def data(self, seed: int) -> ProblemData:
        if seed not in self._data:
            self._data[seed] = self.problem.load(seed)
        return self._data[seed]

    def plan(self) -> list[tuple[RunSpec, str]]:
        """What `run` would do with each run, without doing it: 'run', 'skip', 'resume ...' or 'busy'."""
        found = self.tracker.client.get_experiment_by_name(self.suite.name)
        plan = []
        wording = {"skip": "skip (finished earlier)", "busy": "busy (running in another process)", "start": "run"}
        for spec in expand(self.suite, self.device, self.threads):
            runs = self.tracker.runs_with_key(found.experiment_id, spec.run_key) if found else []
            decision = decide(runs, self.force)
            if decision.action == "resume":
                plan.append((spec, f"resume from epoch {decision.run.data.tags['checkpoint_epoch']}"))
            else:
                plan.append((spec, wording[decision.action]))
        return plan

    def run(self, jobs: int | None = 1, report: bool = True) -> list[RunOutcome]:
        """Every run of the suite, nested under one parent run (`parent_run_id`); ``jobs`` > 1 trains them in
        that many processes, None as many as `resolve_jobs` finds cores for; ``report``: make the report at
        the end (False: the caller makes it, after the static front of a [compare] table)."""
        suite = self.suite
        jobs = resolve_jobs(jobs, self.threads, self.device)
        with STOP.deferred():  # a SIGTERM is taken at a batch or between runs, never inside a store write
            experiment_id = self.tracker.experiment(suite.name)
            retire_stale_parents(self.tracker, experiment_id)
            specs = expand(suite, self.device, self.threads)
            parent = self.tracker.start_run(
                experiment_id,
                f"{suite.name} {datetime.now():%Y-%m-%d %H:%M}",
                {
                    "suite": suite.name,
                    "problem": suite.problem,
                    "kind": "suite",
                    "jobs": jobs,
                    **ownership(),
                    **coverage_tags(specs),
                },
                {k: v for k, v in suite.resolved().items() if k != "strategies"},
            )
            with Heartbeat(parent, HEARTBEAT_EVERY):
                self.parent_run_id = parent.run_id
                return self._run_under(parent, experiment_id, specs, jobs, report)

    def _run_under(
        self, parent: RunLog, experiment_id: str, specs: list[RunSpec], jobs: int, report: bool = True
    ) -> list[RunOutcome]:
        """Train and report the suite under its ``parent`` run, which ends FINISHED, FAILED or KILLED, never RUNNING."""
        outcomes: list[RunOutcome] = []
        try:
            parent.text(to_toml(self.suite.resolved()), "suite.toml")
            with SuiteProgress(len(specs), enabled=self.show_progress) as progress:
                for outcome in self.train_all(specs, experiment_id, parent.run_id, progress, jobs):
                    outcomes.append(outcome)
                    progress.end_run()
            outcomes.sort(key=lambda o: specs.index(o.spec))  # workers end runs out of order
            parent.describe(summary_markdown(outcomes, self.problem.tasks))
            from benchmark.report.analysis import report_at_end  # matplotlib and scipy only when a suite ends

            if report:
                self.report = report_at_end(self.tracker, self.suite.name, parent.run_id)  # replaces the description
        except KeyboardInterrupt:
            parent.describe(summary_markdown(outcomes, self.problem.tasks))
            parent.finish("KILLED")
            raise
        except BaseException as error:
            with contextlib.suppress(Exception):  # a store that is gone: the next invocation retires the parent
                parent.tags({"failure_reason": failure_reason(error)[:5000]})
                parent.finish("FAILED")
            raise
        parent.finish("FINISHED" if all(o.status != "FAILED" for o in outcomes) else "FAILED")
        return outcomes

    def train_all(
        self, specs: list[RunSpec], experiment_id: str, parent_run_id: str, progress: SuiteProgress, jobs: int = 1
    ) -> Iterator[RunOutcome]:
        """Each run's outcome as it ends: trained here or by ``jobs`` worker processes, through the work queue."""
        yield from train_through_queue(self, specs, experiment_id, parent_run_id, progress, jobs)

    def run_one(
        self,
        spec: RunSpec,
        experiment_id: str,
        parent_run_id: str,
        progress: SuiteProgress,
        force: bool | None = None,
    ) -> RunOutcome:
        """Skip, resume or start the run of ``spec``, a key this process holds (or one finished earlier);
        ``force`` (default the invocation's): train it again though it finished."""
        STOP.check()  # a stop requested after the last run ended

        def start(owner_tags: dict[str, str]) -> RunLog:
            tags = {**run_tags(self.suite, spec), **owner_tags}
            return self.tracker.start_run(experiment_id, spec.name, tags, run_params(spec), parent_run_id)

        decision = claim(self.tracker, experiment_id, spec.run_key, self.force if force is None else force, start)
        if decision.action == "skip":
            run = self.tracker.client.get_run(decision.run_id)
            progress.log(f"{spec.name}: done earlier (run {decision.run_id[:8]}), skipped")
            return RunOutcome(spec, "EARLIER", logged_test_metrics(run), run_id=decision.run_id)
        if decision.action == "resume":
            progress.log(f"{spec.name}: resuming run {decision.run_id[:8]} {decision.note}")
        return self.train_claimed(spec, decision, progress)

    def train_claimed(
        self,
        spec: RunSpec,
        decision: Claim,
        progress: SuiteProgress,
        after_epoch: Callable[[int, dict[str, float]], None] | None = None,
    ) -> RunOutcome:
        """Train a run this process has claimed; ``after_epoch`` may raise `StopRun` to end it early."""
        suite, log = self.suite, decision.log
        started = time.perf_counter()
        trainer = None

        def on_batch(*position: Any) -> None:
            STOP.check()  # a stop request (SIGTERM) is taken here, between two steps
            progress.batch(*position)

        with Heartbeat(log, HEARTBEAT_EVERY), STOP.deferred():
            try:
                if spec.strategy.error:
                    raise MimoBenchError(spec.strategy.error)
                data = self.data(spec.seed)
                strategy_cls = STRATEGIES.get(spec.strategy.name)
                definition = spec.definition
                config = TrainConfig.from_suite(
                    suite.epochs,
                    suite.batch_size,
                    definition["optimizer"],
                    definition["accumulate"],
                    definition["early_stopping"],
                    seed=spec.seed,
                    device=self.device,
                    diagnostics=suite.diagnostics,
                )
                trainer_cls = SingleTaskTrainers if strategy_cls.separate_nets else Trainer
                trainer = trainer_cls(
                    data, model_config(suite), lambda t: strategy_cls(t, **spec.strategy.params), config
                )
                if decision.action == "resume":
                    trainer.load_state_dict(self.tracker.load_checkpoint(decision.run_id))
                batches = math.ceil(len(data.train) / suite.batch_size)
                progress.start_run(spec.name, suite.epochs, batches, done_epochs=trainer.epoch)
                while trainer.epoch < suite.epochs and not trainer.stopped:
                    metrics = trainer.train_epoch(on_batch)
                    log.end_epoch(metrics, trainer.epoch, trainer.state_dict)
                    if after_epoch:
                        after_epoch(trainer.epoch, metrics)
                test = trainer.test()
                log.text(repr(trainer.strategy), "strategy.txt")
                selection = trainer.selection_metrics()
                log.metrics(selection, suite.epochs)
                primary = {task.name: task.primary_metric for task in data.tasks}
                for epoch, values in metrics_by_model_epoch(test, selection).items():
                    # each at the step of the epoch its model comes from, the primary ones also under short names
                    log.metrics({**headline_metrics(values, primary), **values}, epoch)
                log.file(lambda path: torch.save(checkpoint(trainer, data, spec), path), "checkpoint.pt")
            except StopRun as stop:
                log.tags({"stopped": stop.reason})
                log.finish("KILLED")
                return RunOutcome(spec, "STOPPED", {}, stop.reason, time.perf_counter() - started, log.run_id)
            except KeyboardInterrupt:
                epoch = trainer.epoch if trainer else 0
                log.tags({"failure_reason": f"interrupted by the user after epoch {epoch}", "killed_at_epoch": epoch})
                log.finish("KILLED")
                raise
            except BaseException as error:  # a failed run is recorded and the suite goes on (SystemExit ends it)
                reason = failure_reason(error)
                step = getattr(error, "step", None)
                log.tags({"failure_reason": reason[:5000], **({"failure_step": step} if step is not None else {})})
                log.finish("FAILED")
                if not isinstance(error, Exception):
                    raise
                progress.log(failure_line(spec.name, reason))
                return RunOutcome(spec, "FAILED", {}, reason, time.perf_counter() - started, log.run_id)
            log.finish("FINISHED")  # before a stop held since the last batch is taken
        best_val = trainer.best_val_metrics()
        return RunOutcome(spec, "FINISHED", test, "", time.perf_counter() - started, log.run_id, best_val)
