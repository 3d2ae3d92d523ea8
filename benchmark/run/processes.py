"""`--jobs` worker processes: how many, how they start, and that they stop with the suite.

A freshly spawned Python pays the imports of torch, torchmetrics and mlflow (about 6 s here) before
it trains anything.  A multiprocessing fork server imports them once, before any thread, CUDA
context or database connection exists, and forks each worker from that clean state in milliseconds.
`mimo-bench run --jobs K` starts it as soon as the suite file is read, so its imports overlap the
parent's own.  Where there is no fork server (Windows), workers are spawned.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from multiprocessing.context import BaseContext

# The workers' entry point, which imports what they train with, and the module behind MLflow's SQL stores,
# which MLflow imports only when a store is first opened (about 1 s).  A name that fails to import is skipped.
PRELOAD = ["benchmark.run.workers", "mlflow.store.tracking.sqlalchemy_store"]


def resolve_jobs(jobs: int | None, threads: int | None, device: str) -> int:
    """How many runs to train at once: ``jobs`` if given, else (`--jobs auto`) one per visible GPU on CUDA and,
    on CPU, one per usable core (this process's CPU affinity) divided by the ``threads`` each run uses."""
    if jobs:
        return jobs
    if device == "cuda":
        import torch

        return max(1, torch.cuda.device_count())
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (macOS, Windows)
        cores = os.cpu_count() or 1
    return max(1, cores // (threads or 1))


def worker_context() -> BaseContext:
    """The multiprocessing context workers start from: the fork server where there is one, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # torch is not fork-safe: never plain fork
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start_worker_server() -> None:
    """Start the fork server now, in the background (a no-op if it runs already or there is none)."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with sigint_ignored(), safe_path():  # the server, and every worker it forks, leave Ctrl-C to the parent
            forkserver.ensure_running()


@contextlib.contextmanager
def safe_path() -> Iterator[None]:
    """Start children as ``python -P`` would (``PYTHONSAFEPATH``): a new Python then does not put the working
    directory first on its path, so a user's own ``benchmark/`` or ``strategies/`` folder there cannot shadow
    ours in a worker (the fork server imports the workers' entry point before it learns the parent's path)."""
    previous = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = previous


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while a child starts, so it inherits the ignore (a new Python keeps it)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_with_parent() -> None:
    """In a worker: SIGTERM itself (stopping like Ctrl-C, its run marked KILLED) when the suite's process
    dies, even by kill -9, instead of training on as an orphan that holds its run's claim."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the process pipe closes: it has exited
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def gpu_environment(slot: int, environment: dict[str, str]) -> dict[str, str]:
    """The environment of CUDA worker ``slot``: it sees one GPU, the next of those this process sees
    (``CUDA_VISIBLE_DEVICES`` if set, else every device), taken round robin."""
    import torch

    visible = environment.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
    devices = devices or [str(i) for i in range(max(1, torch.cuda.device_count()))]
    return {**environment, "CUDA_VISIBLE_DEVICES": devices[slot % len(devices)]}
