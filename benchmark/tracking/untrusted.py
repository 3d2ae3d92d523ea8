"""Strings from suite files and URIs made safe where they leave the process: as a folder name, inside an
MLflow filter string, and in anything logged or printed (passwords redacted).  Imports neither torch nor mlflow.
"""

from __future__ import annotations

import hashlib
import re

SAFE_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# scheme://user:password@host... and ?password=... / &password=... in a URI's query
PASSWORD_IN_AUTHORITY = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)[^\s/'\"]*(?=@)")
PASSWORD_IN_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)[^&\s'\"]*", re.IGNORECASE)
REDACTED = "***"


def path_component(name: str) -> str:
    """``name`` as one folder name that stays where it is put: itself when it is ASCII letters, digits, '.',
    '_' and '-' not starting with '.'; else its letters, digits, '_' and '-' with every other run of characters
    replaced by '-', plus a hash of the whole name so that two names never share a folder."""
    if SAFE_COMPONENT.fullmatch(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "name"
    return f"{slug[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


def filter_literal(value: str) -> str:
    """``value`` quoted for an MLflow filter string, so it matches itself only.

    MLflow 3 (`mlflow.utils.search_utils`) tokenises with sqlparse, whose string literals are
    ``'(''|\\'|[^'])*'`` (and the same with ``"``), and then only strips the two ends: there is no escape
    that it undoes.  So the literal is delimited by a quote that the value does not hold, and a value
    ending in a backslash (which would swallow the closing quote) or holding both quotes cannot be written.
    """
    if value.endswith("\\"):
        raise ValueError(f"{value!r} ends with a backslash, which an MLflow filter string cannot hold")
    for quote in ("'", '"'):
        if quote not in value:
            return f"{quote}{value}{quote}"
    raise ValueError(f"{value!r} holds both quote characters, which an MLflow filter string cannot hold")


def filter_problem(name: str) -> str:
    """Why a suite name or label cannot be used ('' if it can): it must not hold '"' nor end with '\\',
    so that it and the study names built from it (``suite/label``) fit `filter_literal`."""
    if '"' in name:
        return 'must not contain a double quote (")'
    if name.endswith("\\"):
        return "must not end with a backslash"
    return ""


def redact(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***`` (``postgresql://me:***@host/db``)."""
    return PASSWORD_IN_QUERY.sub(rf"\g<head>{REDACTED}", PASSWORD_IN_AUTHORITY.sub(rf"\g<head>{REDACTED}", text))
