"""Strategies for the search tests (named in suites as ``tests.search_plugins:<Class>``), and a search
process that dies at a chosen point: ``python -m tests.search_plugins DIE_AT SUITE STORAGE``."""

from __future__ import annotations

import os
import sys
import time

import torch

from benchmark.api.strategy import LossWeighting


class Scaled(LossWeighting):
    """The plain sum times a searched scale (a well-behaved plugin)."""

    name = "scaled"
    delay = 0.0  # seconds per step
    chatter = 0  # bytes written to stderr when constructed

    def __init__(self, tasks, *, scale: float = 1.0):
        super().__init__(tasks)
        self.scale = scale
        if self.chatter:
            sys.stderr.write("x" * self.chatter + "\n")
            sys.stderr.flush()

    def combine(self, ctx):
        time.sleep(self.delay)
        total = self.scale * torch.stack([ctx.losses[n] for n in self.task_names]).sum()
        return total, {n: torch.tensor(self.scale) for n in self.task_names}

    @classmethod
    def search_space(cls, trial, tasks):
        return {"scale": trial.suggest_float("scale", 0.5, 2.0)}


class ExplodesAtStepZero(Scaled):
    """Raises at its first step, every time."""

    name = "explodes"

    def combine(self, ctx):
        raise RuntimeError(f"exploded at step {ctx.step}")


class Slow(Scaled):
    """Takes 20 ms a step, so a test can stop it mid-run."""

    name = "slow"
    delay = 0.02


class Chatty(Scaled):
    """Writes 200 KiB to stderr when constructed (more than a pipe holds)."""

    name = "chatty"
    chatter = 200 * 1024


def die_at(point: str) -> None:
    """Make this process die (as by kill -9) at ``point``: 'run_id' (just before the trial records its
    run id), 'epoch' (at its first epoch's end), 'tell' (its run finished, before Optuna is told) or
    'retire' (while marking a run FAILED)."""
    import optuna

    from benchmark.tracking.client import RetryingClient
    from benchmark.tracking.runlog import RunLog

    def dies(original, condition):
        def call(*args, **kwargs):
            if condition(*args, **kwargs):
                os._exit(9)
            return original(*args, **kwargs)

        return call

    if point == "run_id":
        trial = optuna.trial.Trial
        trial.set_user_attr = dies(trial.set_user_attr, lambda self, key, value: key == "run_id")
    elif point == "epoch":
        RunLog.end_epoch = dies(RunLog.end_epoch, lambda *args, **kwargs: True)
    elif point == "tell":
        study = optuna.Study
        study.tell = dies(study.tell, lambda self, trial, values=None, **kw: values is not None)
    elif point == "retire":
        getattr_ = RetryingClient.__getattr__

        def patched(self, name):
            method = getattr_(self, name)
            if name != "set_terminated":
                return method
            return dies(method, lambda run_id, status="FINISHED", **kw: status == "FAILED")

        RetryingClient.__getattr__ = patched
    else:
        raise SystemExit(f"unknown point {point!r}")


if __name__ == "__main__":
    from benchmark.search.study import StudyRunner
    from benchmark.suite.schema import load_suite

    die_at(sys.argv[1])
    StudyRunner(load_suite(sys.argv[2]), sys.argv[3], show_progress=False).run()
    sys.exit(0)  # not reached when the point is hit
