"""How a suite invocation's runs get trained: through the work queue, here or in its `--jobs` workers.

Runs already finished are skipped without touching the queue.  The rest are added to the suite's queue
(`benchmark.queue.work`), where every invocation and every `mimo-bench worker`, on any machine, takes
them one at a time: each run is trained by exactly one process.  This invocation takes and trains units
until none of its runs waits (or, with ``--executor ray``, hands each to a Ray task:
`benchmark.run.ray_executor`), then waits for those that other workers hold (taking any that a dead
worker's reaping puts back), and reads how they ended from the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from benchmark.run.progress import SuiteProgress
from benchmark.run.ray_executor import train_on_ray
from benchmark.run.records import RunOutcome, logged_test_metrics
from benchmark.run.stopping import STOP
from benchmark.run.workers import expected_cost, train_in_workers
from benchmark.suite.plan import RunSpec
from benchmark.tracking.claims import decide

if TYPE_CHECKING:
    from benchmark.run.runner import SuiteRunner

POLL_SECONDS = 2.0


def queue_item(spec: RunSpec, parent_run_id: str, force: bool) -> dict:
    """A run as a unit of work: its key, its run's parent, and whether to train it again though it finished."""
    return {
        "key": spec.run_key,
        "label": spec.strategy.label,
        "seed": spec.seed,
        "parent": parent_run_id,
        "force": force,
    }


def train_through_queue(
    runner: SuiteRunner,
    specs: list[RunSpec],
    experiment_id: str,
    parent_run_id: str,
    progress: SuiteProgress,
    jobs: int = 1,
) -> Iterator[RunOutcome]:
    """Each run's outcome as it ends (not in suite order with ``jobs`` > 1)."""

    def finished(key: str) -> bool:
        return decide(runner.tracker.runs_with_key(experiment_id, key), runner.force).action == "skip"

    todo = []
    for spec in specs:
        if finished(spec.run_key):
            yield runner.run_one(spec, experiment_id, parent_run_id, progress)
        else:
            todo.append(spec)
    if not todo:
        return
    parallel = jobs > 1 and len(todo) > 1
    if parallel:  # longest first: no straggler at the end
        todo.sort(key=lambda spec: -expected_cost(runner, spec))
    queue = runner.queue
    # asked again under the queue's lock: a run that another worker finished since is not added again
    queue.add((queue_item(spec, parent_run_id, runner.force) for spec in todo), wanted=lambda key: not finished(key))
    pending = {spec.run_key: spec for spec in todo}
    if runner.ray_address:
        ran = train_on_ray(runner, dict(pending), runner.ray_address)
    else:
        ran = train_in_workers(runner, pending, experiment_id, progress, jobs) if parallel else ()
    for outcome in ran:
        pending.pop(outcome.spec.run_key, None)
        yield outcome
    waiting_said = False
    while pending:
        for outcome in () if runner.ray_address else train_taken(runner, pending, experiment_id, progress):
            pending.pop(outcome.spec.run_key, None)
            yield outcome
        held_elsewhere = queue.open_keys() & set(pending)
        for key in set(pending) - held_elsewhere:
            yield ended_elsewhere(runner, pending.pop(key), experiment_id)
        if pending:
            if not waiting_said:
                progress.log(f"waiting for {len(pending)} run(s) that other workers are training")
                waiting_said = True
            with STOP.allowed():  # waiting writes nothing
                time.sleep(POLL_SECONDS)


def train_taken(
    runner: SuiteRunner, pending: dict[str, RunSpec], experiment_id: str, progress: SuiteProgress
) -> Iterator[RunOutcome]:
    """Take units of ``pending`` runs from the queue and train them here, until none of them waits."""
    queue = runner.queue
    while (unit := queue.take(set(pending))) is not None:
        with queue.beating(unit):
            try:
                outcome = runner.run_one(
                    pending[unit.key], experiment_id, unit.attrs["parent"], progress, unit.attrs.get("force", False)
                )
            except BaseException:  # interrupted: the run is KILLED, and the next invocation adds it again
                queue.done(unit, False, "interrupted")
                raise
        queue.done(unit, outcome.counts, outcome.reason)
        yield outcome


def ended_elsewhere(runner: SuiteRunner, spec: RunSpec, experiment_id: str) -> RunOutcome:
    """The outcome of a run that another worker trained during this invocation, as the store has it."""
    runs = runner.tracker.runs_with_key(experiment_id, spec.run_key)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if finished:
        run = finished[-1]
        return RunOutcome(spec, "ELSEWHERE", logged_test_metrics(run), run_id=run.info.run_id)
    reason = runs[-1].data.tags.get("failure_reason", "it did not finish") if runs else "no worker started it"
    return RunOutcome(spec, "FAILED", {}, f"in another worker: {reason}", run_id=runs[-1].info.run_id if runs else "")
