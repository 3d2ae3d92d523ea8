"""Writing to one MLflow run: params, metrics per epoch, tags, text, resume checkpoints, and its heartbeat."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy

from benchmark.tracking.client import CREATE_TOKEN_TAG, Metric, Param, RetryingClient, RunTag
from benchmark.tracking.untrusted import redact

MAX_PARAM_LENGTH = 6000
CHECKPOINT_ARTIFACT = "resume/state.pt"
RUN_COLOR_TAG = "mlflow.runColor"
# tags that only a run still running or resumable needs; a FINISHED run drops them (`RunLog.finish`)
BOOKKEEPING = ("heartbeat", "checkpoint_epoch", CREATE_TOKEN_TAG)


def without_float32_noise(value: float) -> float:
    """A metric value as it is logged: a value that is exactly a float32 (the net computes its losses and
    metrics in float32) becomes the shortest decimal that rounds to it, held in float64 (0.54375, not
    0.5437499880790710); any other value (a float64 such as the lr) is kept as it is.  The float32 the
    trainer used is unchanged: ``numpy.float32(logged) == value``."""
    value = float(value)
    single = numpy.float32(value)
    if not math.isfinite(value) or float(single) != value:
        return value
    return float(numpy.format_float_positional(single, unique=True, trim="-"))


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one flat dict with dotted keys (``strategy.weights.slant``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def checkpoint_seconds() -> float:
    """Least seconds between two resume checkpoints of a run (``$MIMO_BENCH_CHECKPOINT_SECONDS``, default 30)."""
    return float(os.environ.get("MIMO_BENCH_CHECKPOINT_SECONDS", "30"))


class RunLog:
    """Writes to one run; every param, tag, text and description is `redact`-ed on its way to the store."""

    def __init__(self, client: RetryingClient, run_id: str):
        self.client = client
        self.run_id = run_id
        self._checkpointed: float | None = None  # monotonic time of the last resume checkpoint
        self.heartbeat: Heartbeat | None = None  # the heartbeat refreshing this run's tag, while it trains

    def params(self, params: Mapping[str, Any]) -> None:
        items = [
            Param(k, redact(json.dumps(v)) if isinstance(v, list) else redact(str(v))[:MAX_PARAM_LENGTH])
            for k, v in flatten(params).items()
        ]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def metrics(self, values: Mapping[str, float], step: int) -> None:
        """All values of one step in a single call, each as `without_float32_noise` makes it."""
        now = int(time.time() * 1000)
        items = [Metric(k, without_float32_noise(v), now, step) for k, v in values.items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def tags(self, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, redact(str(v))) for k, v in tags.items()])

    def color(self, color: str) -> None:
        """The colour the MLflow UI draws this run in (``#rrggbb``; what the UI's colour picker sets)."""
        self.client.set_tag(self.run_id, RUN_COLOR_TAG, color)

    def describe(self, markdown: str) -> None:
        """Set the run's description (shown on its page in the MLflow UI)."""
        self.client.set_tag(self.run_id, "mlflow.note.content", redact(markdown))

    def text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, redact(text), artifact_file)

    def file(self, write: Callable[[Path], None], artifact_file: str) -> None:
        """Log an artifact produced by ``write(path)``; ``artifact_file`` may hold a folder ('resume/state.pt')."""
        folder, _, name = artifact_file.rpartition("/")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / name
            write(path)
            self.client.log_artifact(self.run_id, str(path), folder or None)

    def end_epoch(self, metrics: Mapping[str, float], epoch: int, state: Callable[[], dict]) -> None:
        """An epoch's metrics, and the resume state when one is due: after the first epoch, then once
        `checkpoint_seconds` have passed since the last (a kill loses at most that much training)."""
        self.metrics(metrics, epoch)
        now = time.monotonic()
        if self._checkpointed is None or now - self._checkpointed >= checkpoint_seconds():
            self.save_checkpoint(state(), epoch)
            self._checkpointed = now

    def save_checkpoint(self, state: dict, epoch: int) -> None:
        """Store the resume state of a run after ``epoch`` (replacing the previous one)."""
        import torch

        self.file(lambda path: torch.save(state, path), CHECKPOINT_ARTIFACT)
        self.tags({"checkpoint_epoch": epoch})

    def finish(self, status: str = "FINISHED") -> None:
        """End the run (its heartbeat stopped first); a FINISHED run also loses the `BOOKKEEPING` tags, which
        only a run that may still be resumed needs (its ``owner`` stays: which process trained it)."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.client.set_terminated(self.run_id, status=status)
        if status == "FINISHED":
            raw = getattr(self.client, "_client", self.client)  # no retries: a tag left behind is harmless
            for key in BOOKKEEPING:
                with contextlib.suppress(Exception):  # not set on this run, or the store is away
                    raw.delete_tag(self.run_id, key)


class Heartbeat:
    """Refreshes a run's ``heartbeat`` tag from a background thread while the run trains."""

    def __init__(self, log: RunLog, every: float):
        self.log, self.every = log, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{log.run_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.log.heartbeat = self
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """No more beats (at once: `RunLog.finish` calls it before the run ends, so none lands after)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.log.tags({"heartbeat": f"{time.time():.0f}"})
            except Exception:  # a missed beat only risks a later staleness check; training goes on
                continue
