"""`mimo-bench run --executor ray --address ADDRESS`: a suite's runs as tasks on a Ray cluster.

One Ray task per run, asking for the run's CPU threads (``num_cpus``) and, on CUDA, one GPU; Ray places
them where resources are free.  A task still takes its run from the work queue (`benchmark.queue.work`),
so a run is trained once however many invocations, workers or retries meet it.  A task whose process dies
(``kill -9``, a lost node) is retried by Ray up to `RETRIES` times; the retry finds the run's unit held by
the dead process, waits until the queue puts it back (at once on the same node, after the heartbeat's
grace period elsewhere) and resumes the run from its checkpoint.  Every node needs mimo-bench installed
and must reach the tracking store and the queue's storage (PostgreSQL across nodes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from benchmark.api.errors import MimoBenchError, one_line
from benchmark.run.records import RunOutcome
from benchmark.suite.plan import RunSpec, expand
from benchmark.suite.schema import Suite

if TYPE_CHECKING:
    from benchmark.run.runner import SuiteRunner

RETRIES = 3
WAIT_SECONDS = 2.0


def train_task(suite: Suite, storage: str, threads: int, key: str) -> RunOutcome | None:
    """In a Ray worker: take the run of ``key`` from the queue and train it; None if another process did."""
    from benchmark.run.dispatch import train_taken
    from benchmark.run.runner import SuiteRunner
    from benchmark.run.workers import WorkerProgress

    runner = SuiteRunner(suite, show_progress=False, threads=threads, storage=storage)
    experiment_id = runner.tracker.experiment(suite.name)
    specs = {spec.run_key: spec for spec in expand(suite, runner.device, runner.threads)}
    if key not in specs:
        raise MimoBenchError(f"run {key} is not a run of {suite.name} on this node (another device or code?)")
    while True:
        for outcome in train_taken(runner, {key: specs[key]}, experiment_id, WorkerProgress()):
            return outcome
        if key not in runner.queue.open_keys():
            return None  # trained by another process meanwhile
        time.sleep(WAIT_SECONDS)  # held by a process that died: wait until the queue puts it back


def train_on_ray(runner: SuiteRunner, pending: dict[str, RunSpec], address: str) -> Iterator[RunOutcome]:
    """The outcome of each run of ``pending`` as its Ray task ends (a run another process trained is left to
    the caller, which reads how it ended from the store)."""
    import ray

    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=runner.threads, num_gpus=1 if runner.device == "cuda" else 0, max_retries=RETRIES)(
            train_task
        )
        waiting = {task.remote(runner.suite, runner.storage_url, runner.threads, key): key for key in pending}
        while waiting:
            done, _ = ray.wait(list(waiting), num_returns=1)
            for ref in done:
                key = waiting.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as error:  # raised in the task, or out of retries
                    outcome = RunOutcome(pending[key], "FAILED", {}, f"its Ray task failed: {one_line(error)}")
                if outcome is not None:
                    yield outcome
    finally:
        ray.shutdown()
