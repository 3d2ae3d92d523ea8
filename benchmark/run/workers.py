"""`mimo-bench run --jobs K`: a suite's runs trained by K worker processes on this machine.

The parent keeps the suite's one MLflow run, takes each run's unit from the work queue
(`benchmark.run.dispatch`) when a worker is idle, keeps the units' heartbeats, and hands the run to
that worker over a pipe; the worker trains it exactly as a sequential invocation would, on its own CPU
thread(s), and sends the `RunOutcome` back.  A worker that dies fails only the run it held: the parent
marks that run KILLED and its unit failed, so the next invocation resumes it, and starts a fresh worker
for the rest.  Ctrl-C stops every worker, each of
which marks its run KILLED.  A run seeds every RNG from its own seed, so its numbers depend only on
its definition, its seed and its CPU thread count (``--threads``, default 1), never on which process
or machine runs it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

from benchmark.api.errors import PluginError
from benchmark.api.registry import STRATEGIES
from benchmark.queue.work import Unit
from benchmark.run.processes import gpu_environment, safe_path, sigint_ignored, stop_with_parent, worker_context
from benchmark.run.progress import Line, SuiteProgress, failure_line
from benchmark.run.records import RunOutcome
from benchmark.run.stopping import STOP
from benchmark.suite.plan import RunSpec
from benchmark.suite.schema import Suite
from benchmark.tracking.runlog import RunLog

if TYPE_CHECKING:
    import torch

    from benchmark.run.runner import SuiteRunner

STOP_TIMEOUT = 60.0  # seconds a stopped worker gets to mark its run KILLED before it is killed


class WorkerProgress(SuiteProgress):
    """A worker's progress: no bars; its log lines go back to the parent with the outcome."""

    def __init__(self) -> None:
        super().__init__(1, enabled=False)
        self.lines: list[Line] = []

    def log(self, message: Line) -> None:
        self.lines.append(message)

    def batch(self, epoch: int, batch_index: int, losses: dict[str, torch.Tensor]) -> None:
        """No bar to update."""


def work(
    runner_class: type[SuiteRunner],
    suite: Suite,
    force: bool,
    threads: int,
    experiment_id: str,
    environment: dict[str, str],
    pipe: Connection,
) -> None:
    """A worker process: train each (run spec, parent run id, force) received on ``pipe`` and send back its
    outcome, until None."""
    STOP.install()  # the parent's stop, taken at the next batch (`benchmark.run.stopping`)
    stop_with_parent()  # ... and its death
    os.environ.clear()  # the parent's environment now, not the one the fork server started with
    os.environ.update(environment)
    try:
        runner = runner_class(suite, show_progress=False, force=force, threads=threads)
        while (task := pipe.recv()) is not None:
            spec, parent_run_id, force = task
            progress = WorkerProgress()
            with STOP.deferred():  # a stop before this raised at once, in the handler
                outcome = runner.run_one(spec, experiment_id, parent_run_id, progress, force)
                pipe.send((outcome, progress.lines))
    except (KeyboardInterrupt, EOFError):
        pass  # stopped by the parent (the run in hand is marked KILLED), or the parent is gone


def expected_cost(runner: SuiteRunner, spec: RunSpec) -> int:
    """A run's cost in nets to train: the number of tasks for a strategy with separate nets, else 1."""
    try:
        separate = STRATEGIES.get(spec.strategy.name).separate_nets
    except PluginError:  # a broken plugin fails at once in its worker
        return 0
    return len(runner.problem.tasks) if separate else 1


@dataclass
class Worker:
    """One worker process, its end of the pipe, and the run it is training (None when idle)."""

    process: multiprocessing.process.BaseProcess
    pipe: Connection
    slot: int  # its GPU on CUDA (`gpu_environment`)
    spec: RunSpec | None = None
    unit: Unit | None = None


def train_in_workers(
    runner: SuiteRunner,
    pending: dict[str, RunSpec],
    experiment_id: str,
    progress: SuiteProgress,
    jobs: int,
) -> Iterator[RunOutcome]:
    """The outcome of each run of ``pending`` (run key: spec) taken from the queue, as it ends; returns when
    none of them waits in the queue and every worker is idle."""
    queue = runner.queue
    todo = list(pending.values())
    for seed in dict.fromkeys(spec.seed for spec in todo):
        with contextlib.suppress(Exception):  # a problem that cannot load fails each of its runs, in the workers
            runner.data(seed)  # the workers read the cached data instead of each generating it
    context = worker_context()  # its first process.start() starts the fork server if `run` has not yet
    arguments = (
        type(runner),
        runner.suite,
        runner.force,
        runner.threads,
        experiment_id,
    )

    def start(slot: int) -> Worker:
        ours, theirs = context.Pipe()
        environment = gpu_environment(slot, dict(os.environ)) if runner.device == "cuda" else dict(os.environ)
        process = context.Process(target=work, args=(*arguments, environment, theirs), daemon=True)
        with sigint_ignored(), safe_path():  # Ctrl-C reaches the whole process group; only the parent reacts to it
            process.start()
        theirs.close()
        return Worker(process, ours, slot)

    def hand_out(worker: Worker) -> None:
        worker.unit = queue.take(set(pending))
        worker.spec = pending[worker.unit.key] if worker.unit else None
        task = (
            (worker.spec, worker.unit.attrs["parent"], worker.unit.attrs.get("force", False)) if worker.unit else None
        )
        with contextlib.suppress(BrokenPipeError):  # it died just now: the next wait finds it and fails this run
            worker.pipe.send(task)

    def held() -> list[Unit]:
        return [w.unit for w in workers if w.unit is not None]

    workers = [start(slot) for slot in range(min(jobs, len(todo)))]
    with queue.beating(held):
        try:
            for worker in workers:
                hand_out(worker)
            while busy := [w for w in workers if w.spec is not None]:
                _show_running(progress, busy)
                with STOP.allowed():  # waiting writes nothing: a stop ends it at once, and `_stop` stops the workers
                    ready = wait([w.pipe for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    if worker.pipe not in ready and worker.process.sentinel not in ready:
                        continue
                    try:
                        outcome, lines = worker.pipe.recv()
                    except EOFError:  # the process died without an answer
                        worker.process.join()
                        worker.pipe.close()
                        workers.remove(worker)
                        outcome = _died(runner, experiment_id, worker)
                        queue.done(worker.unit, False, outcome.reason)
                        progress.log(failure_line(outcome.spec.name, outcome.reason))
                        yield outcome
                        replacement = start(worker.slot)
                        workers.append(replacement)
                        hand_out(replacement)
                        continue
                    for line in lines:
                        progress.log(line)
                    if outcome.status == "FINISHED":
                        progress.log(f"{outcome.spec.name}: finished in {outcome.seconds:.0f}s")
                    queue.done(worker.unit, outcome.counts, outcome.reason)
                    worker.unit = None
                    yield outcome
                    hand_out(worker)
        finally:
            _stop(workers)
            for unit in held():  # interrupted: their runs are KILLED, and the next invocation adds them again
                queue.done(unit, False, "interrupted")


def _show_running(progress: SuiteProgress, busy: list[Worker]) -> None:
    names = ", ".join(w.spec.name for w in busy)
    progress.progress.update(progress.suite_bar, status=f"running: {names}")


def _died(runner: SuiteRunner, experiment_id: str, worker: Worker) -> RunOutcome:
    """The outcome of a run whose worker died; its tracked run is marked KILLED so a later invocation resumes it."""
    reason = f"its worker process died (exit code {worker.process.exitcode}); run the suite again to resume it"
    owner = f"{socket.gethostname()}:{worker.process.pid}"
    run_id = ""
    for run in runner.tracker.runs_with_key(experiment_id, worker.spec.run_key):
        if run.info.status == "RUNNING" and run.data.tags.get("owner") == owner:
            run_id = run.info.run_id
            log = RunLog(runner.tracker.client, run_id)
            log.tags({"failure_reason": reason})
            log.finish("KILLED")
    return RunOutcome(worker.spec, "FAILED", {}, reason, run_id=run_id)


def _stop(workers: list[Worker]) -> None:
    """Let idle workers end, interrupt busy ones (they mark their runs KILLED), and wait for all of them."""
    for worker in workers:
        if worker.spec is not None and worker.process.is_alive():
            worker.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.pipe.close()
