"""The project's own error type: a message for a user, shown without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MimoBenchError(Exception):
    """A user-facing error: bad input, missing data, unreachable store.

    The CLI prints the message alone and exits with status 2.
    """


class PluginError(MimoBenchError):
    """A plugin that cannot be used (fails to import or to construct): its runs fail, the rest go on."""


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the nearest allowed word, or ''."""
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name_error(what: str, name: str, allowed: Iterable[str], where: str = "") -> MimoBenchError:
    """Build the standard error for a name that is not one of the allowed ones."""
    allowed = sorted(allowed)
    prefix = f"{where}: " if where else ""
    return MimoBenchError(
        f"{prefix}unknown {what} '{name}'{did_you_mean(name, allowed)}; allowed: {', '.join(allowed) or '(none)'}"
    )


def one_line(error: BaseException, limit: int = 400) -> str:
    """``Type: first line of the message``, for errors from libraries whose messages span lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:limit]
