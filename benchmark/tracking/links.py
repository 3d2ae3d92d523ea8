"""Addresses of pages in the MLflow UI (3.x): an experiment's runs table, one run, runs filtered by a tag.

MLflow 3's UI has two modes, GenAI and model training, and it chooses by the ``workflowType`` URL
parameter, else by what the browser last chose (local storage), else GenAI; the
``mlflow.experimentKind`` experiment tag no longer decides (MLflow 3.17's UI derives an experiment's
kind from the mode).  So every address here carries ``workflowType=machine_learning``, and an
experiment's page opens on a saved view of its runs table (``viewStateShareKey``, see
`benchmark.tracking.views`) when one is given.  Imports no MLflow.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlencode

UI_ENV = "MIMO_BENCH_UI_URL"  # where the MLflow UI of a local store is served (``mimo-bench ui``)
MODEL_TRAINING = {"workflowType": "machine_learning"}


def ui_address(tracking_uri: str) -> str | None:
    """The MLflow UI's address for a tracking store: an ``mlflow server`` serves its own; for any other
    store, ``$MIMO_BENCH_UI_URL`` if set, else None (unknown)."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    address = os.environ.get(UI_ENV, "").strip()
    return address.rstrip("/") or None


def experiment_url(base: str, experiment_id: str, view: str | None = None) -> str:
    """The experiment's runs table in the model-training view (on the saved ``view`` if given)."""
    query = {**({"viewStateShareKey": view} if view else {}), **MODEL_TRAINING}
    return f"{base}/#/experiments/{quote(experiment_id)}/runs?{urlencode(query)}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page (its description, metrics, params, artifacts)."""
    return f"{base}/#/experiments/{quote(experiment_id)}/runs/{quote(run_id)}?{urlencode(MODEL_TRAINING)}"


def filtered_runs_url(base: str, experiment_id: str, filter_string: str) -> str:
    """The runs table showing only the runs that match an MLflow filter string."""
    query = {"searchFilter": filter_string, **MODEL_TRAINING}
    return f"{base}/#/experiments/{quote(experiment_id)}/runs?{urlencode(query, quote_via=quote)}"
