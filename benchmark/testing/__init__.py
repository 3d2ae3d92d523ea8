"""Conformance checks that plugin authors run on their own strategies: `check_strategy`, and a pytest fixture.

Loaded on first use, so ``benchmark.testing.pytest_plugin`` (opt-in with ``pytest_plugins``) keeps pytest's
start free of torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["ConformanceError", "check_strategy", "check_tasks"]

if TYPE_CHECKING:
    from benchmark.testing.conformance import check_strategy, check_tasks
    from benchmark.testing.failure import ConformanceError


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'benchmark.testing' has no attribute {name!r}")
    home = "failure" if name == "ConformanceError" else "conformance"
    return getattr(importlib.import_module(f"benchmark.testing.{home}"), name)


def __dir__() -> list[str]:
    return __all__
