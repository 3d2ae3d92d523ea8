"""`mimo-bench ui`: the MLflow UI on the suite's tracking store."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MOST_LINKS = 8  # experiments listed with their own link (the latest first)


def command(args: argparse.Namespace) -> int:
    """Print each experiment's runs page, then replace this process with `mlflow ui` (so Ctrl-C and
    signals reach the server directly)."""
    from benchmark.tracking.untrusted import redact
    from benchmark.tracking.uri import default_tracking_uri

    uri = args.tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # the store goes in the environment, not on the command line, which `ps` shows every user
    command = [sys.executable, "-P", "-m", "mlflow", "ui", "--host", args.host, "--port", str(args.port)]
    command += ["--workers", "1"]
    base = f"http://{args.host}:{args.port}"
    # the experiment list's own links open MLflow's GenAI view; these open the runs table (model training)
    page = f"{base}/#/experiments?workflowType=machine_learning"
    print(f"MLflow UI for {redact(uri)} at {page} (Ctrl-C to stop)", file=sys.stderr)
    for name, page in _pages(uri, base)[:MOST_LINKS]:
        print(f"  {name}: {page}", file=sys.stderr)
    sys.stderr.flush()
    environment = {**os.environ, "MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}
    os.execve(sys.executable, command, environment)
    return 0  # not reached


def _pages(uri: str, base: str) -> list[tuple[str, str]]:
    """Each experiment's runs page; none when the store cannot be read now (the UI will say why)."""
    try:
        from benchmark.tracking.store import Tracker
        from benchmark.tracking.views import experiment_pages

        return experiment_pages(Tracker(uri).client, base)
    except Exception:
        return []
