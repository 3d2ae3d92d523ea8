"""`mimo-bench search --jobs K`: K `mimo-bench worker` processes on one study, stopped with the search.

Each worker is a fresh ``python -P -m benchmark.cli worker`` (``-P``: a ``benchmark/`` or
``strategies/`` folder in the working directory cannot shadow the package) that finds the storage
and tracking URLs in its environment, not on its command line (they may carry a password, and
``ps`` shows command lines to every user).  Its output goes to a temporary file, never to a pipe
that fills and blocks it.  Its stdin is a pipe from the search that it watches: when that closes
(the search ended or died, even by kill -9) it stops as on SIGTERM, marking its trial's run KILLED.
Ctrl-C and SIGTERM of the search stop every worker that way, then the search waits for them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmark.api.errors import MimoBenchError
from benchmark.queue.storages import STORAGE_ENV, TRACKING_ENV
from benchmark.run.processes import sigint_ignored

STOP_TIMEOUT = 60.0  # seconds a stopped worker gets to mark its run KILLED before it is killed
POLL_SECONDS = 1.0


def run_workers(suite: Path, label: str, jobs: int, storage: str, tracking_uri: str, poll: Callable[[], None]) -> None:
    """Run ``jobs`` workers on the study of ``label`` until they end, calling ``poll`` every second."""
    command = [sys.executable, "-P", "-m", "benchmark.cli", "worker", str(suite), "--study", label]
    command += ["--no-progress", "--stop-with-parent"]
    environment = {**os.environ, STORAGE_ENV: storage, TRACKING_ENV: tracking_uri}
    with contextlib.ExitStack() as stack:
        outputs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in range(jobs)]
        workers: list[subprocess.Popen] = []
        try:
            with sigint_ignored():  # Ctrl-C reaches the whole process group; only the search reacts to it
                for output in outputs:
                    workers.append(
                        subprocess.Popen(
                            command, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, env=environment
                        )
                    )
            while any(worker.poll() is None for worker in workers):
                poll()
                time.sleep(POLL_SECONDS)
        finally:
            _stop(workers)
        failed = [_last_line(output) for worker, output in zip(workers, outputs, strict=True) if worker.returncode]
    if failed:
        raise MimoBenchError(f"{len(failed)} of {jobs} search workers failed: {failed[0]}")


def _stop(workers: list[subprocess.Popen]) -> None:
    """Interrupt the workers still running (each marks its run KILLED) and wait for every one."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for worker in workers:
        try:
            worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        worker.stdin.close()


def _last_line(output) -> str:
    output.seek(0)
    lines = [line.strip() for line in output.read().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def stop_when_stdin_closes() -> None:
    """In a worker: SIGTERM itself when its stdin, the search's pipe, closes (the search ended or died)."""

    stdin = sys.stdin.fileno()  # read unbuffered: a thread inside sys.stdin would block the exit

    def watch() -> None:
        while os.read(stdin, 4096):  # the search never writes: this ends at end of file
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
