"""How runs are found in the store: MLflow filter strings over tags, and the epoch at which a metric counts."""

from __future__ import annotations

import math
from collections.abc import Mapping

from benchmark.tracking.untrusted import filter_literal


def best_epoch_for(metrics: Mapping[str, float], key: str) -> int:
    """The epoch at which a run's ``val/<task>/<metric>`` ``key`` counts: the task's own
    ``best_epoch/<task>`` where separate nets chose their own (``single``), else the run's ``best_epoch``."""
    own = metrics.get(f"best_epoch/{key.split('/')[1]}")
    return int(metrics["best_epoch"] if own is None or math.isnan(own) else own)


def tag_filter(**tags: str) -> str:
    """An MLflow filter string matching runs whose tags equal ``tags`` exactly, every value quoted
    (`benchmark.untrusted.filter_literal`); a dotted key is passed as ``**{"mlflow.parentRunId": id}``."""
    return " and ".join(f"tags.`{key}` = {filter_literal(str(value))}" for key, value in tags.items())
