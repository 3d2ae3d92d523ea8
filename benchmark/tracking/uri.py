"""Tracking store URIs: the default local store and the schemes MLflow 3 can use.  Imports no MLflow."""

from __future__ import annotations

import os

from benchmark.api.errors import MimoBenchError

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


TRACKING_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")


def check_tracking_uri(uri: str, where: str) -> None:
    """Refuse a tracking URI whose scheme MLflow 3 cannot use as a store (the file store included)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0] if ":" in uri else ""
    if scheme not in TRACKING_SCHEMES:
        raise MimoBenchError(
            f"{where}: {uri!r} is not a tracking store URI; use one of "
            "sqlite:///path/mlflow.db, postgresql://user@host/db, http://host:port (an `mlflow server`)"
        )
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        raise MimoBenchError(
            f"{where}: {uri!r}: a SQLite store is written sqlite:///relative/path.db or sqlite:////abs/path.db"
        )


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the local SQLite store under ``mlruns/``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    check_tracking_uri(uri, "MLFLOW_TRACKING_URI")
    return uri
