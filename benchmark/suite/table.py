"""A TOML table being validated: typed reads with defaults, errors that name the file and the key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmark.api.errors import MimoBenchError, did_you_mean
from benchmark.tracking.untrusted import filter_problem


class Table:
    """A TOML table being validated: typed reads with defaults, then a check for leftover keys."""

    def __init__(self, source: Path, where: str, table: Any):
        self.source, self.where = source, where
        if not isinstance(table, dict):
            raise self.error(f"must be a table, got {type_name(table)}")
        self.table = dict(table)
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def error(self, message: str, key: str | None = None) -> MimoBenchError:
        place = self.key(key) if key else (self.where or "(top level)")
        return MimoBenchError(f"{self.source}: {place}: {message}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any, allowed: str) -> Any:
        self.seen.add(name)
        if name not in self.table:
            if default is REQUIRED:
                raise self.error(f"missing; expected {allowed}", name)
            return default
        value = self.table[name]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in as_tuple(kind))
        if not ok:
            raise self.error(f"expected {allowed}, got {type_name(value)} {value!r}", name)
        return value

    def positive_int(self, name: str, default: Any) -> int:
        value = self.get(name, int, default, "a positive integer")
        if value < 1:
            raise self.error(f"must be a positive integer, got {value}", name)
        return value

    def number(self, name: str, default: Any, minimum: float, inclusive: bool) -> float:
        bound = f">= {minimum}" if inclusive else f"> {minimum}"
        value = self.get(name, (int, float), default, f"a number {bound}")
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            raise self.error(f"must be a finite number {bound}, got {value}", name)
        return float(value)

    def name(self, key: str, default: Any, allowed: str) -> str:
        """A suite name or strategy label: it becomes an MLflow tag value searched by `tracking.tag_filter`."""
        value = self.get(key, str, default, allowed)
        if value is not None and filter_problem(value):
            raise self.error(f"{value!r} {filter_problem(value)}", key)
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.get(name, str, default, f"one of {', '.join(allowed)}")
        if value not in allowed:
            raise self.error(
                f"'{value}' is not allowed{did_you_mean(value, allowed)}; allowed: {', '.join(allowed)}", name
            )
        return value

    def rest(self) -> dict[str, Any]:
        return {k: v for k, v in self.table.items() if k not in self.seen}

    def check_no_rest(self, allowed: list[str]) -> None:
        for key in self.rest():
            raise self.error(f"unknown key{did_you_mean(key, allowed)}; allowed: {', '.join(sorted(allowed))}", key)


REQUIRED = object()


def as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def type_name(value: Any) -> str:
    return {
        dict: "a table",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
    }.get(type(value), type(value).__name__)
