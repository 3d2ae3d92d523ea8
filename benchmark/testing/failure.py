"""The one failure type of the conformance checks: an AssertionError that names the strategy and the broken rule."""

from __future__ import annotations


class ConformanceError(AssertionError):
    """A strategy breaks a rule of the plugin contract; the message says which rule and how to fix it."""


def fail(cls: type, rule: str, detail: str) -> ConformanceError:
    """The error for ``cls`` breaking ``rule`` (raise it)."""
    name = getattr(cls, "name", "?")
    return ConformanceError(f"strategy {cls.__qualname__} (name {name!r}) breaks '{rule}': {detail}")
