"""A stop request (SIGTERM, or a worker's parent dying) taken at a safe point, never inside a store write.

`mimo-bench` and every `--jobs` worker install `STOP` as their SIGTERM handler.  Inside a
`StopRequest.deferred` block (a suite, a run) the signal is only noted; it raises KeyboardInterrupt,
which marks the current run KILLED and resumable, at the next `StopRequest.check` (each batch, each
run's start) or when the block ends.  Outside such a block it raises at once.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class StopRequest:
    """The SIGTERM handler, and where its KeyboardInterrupt may land."""

    def __init__(self) -> None:
        self.requested = False
        self.deferring = False

    def __call__(self, *signal_info: object) -> None:  # the SIGTERM handler
        self.requested = True
        if not self.deferring:
            raise KeyboardInterrupt

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)

    def check(self) -> None:
        """A safe point: raise KeyboardInterrupt if a stop was requested."""
        if self.requested:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a stop until the next `check`, or until the block ends normally."""
        outer, self.deferring = self.deferring, True
        try:
            yield
        finally:
            self.deferring = outer
        if not outer:
            self.check()

    @contextlib.contextmanager
    def allowed(self) -> Iterator[None]:
        """Let a stop raise at once inside a `deferred` block (a wait that writes nothing)."""
        outer, self.deferring = self.deferring, False
        try:
            self.check()
            yield
        finally:
            self.deferring = outer


STOP = StopRequest()
