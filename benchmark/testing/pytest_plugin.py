"""A pytest fixture over `check_strategy`; opt in with ``pytest_plugins = ["benchmark.testing.pytest_plugin"]``.

Opt-in (no ``pytest11`` entry point), and torch is imported only when a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def check_strategy() -> Callable[..., None]:
    """`benchmark.testing.check_strategy`: ``check_strategy(MyStrategy, **options)`` fails naming the broken rule."""
    from benchmark.testing.conformance import check_strategy

    return check_strategy
