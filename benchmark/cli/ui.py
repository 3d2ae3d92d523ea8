"""`mimo-bench ui`: the MLflow UI on the suite's tracking store."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def command(args: argparse.Namespace) -> int:
    """Replace this process with `mlflow ui` (so Ctrl-C and signals reach the server directly)."""
    from benchmark.tracking.uri import default_tracking_uri

    uri = args.tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-P", "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", args.host, "--port", str(args.port), "--workers", "1"]
    page = f"http://{args.host}:{args.port}/#/experiments?workflowType=machine_learning"  # runs, not GenAI
    print(f"MLflow UI for {uri} at {page} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    os.execve(sys.executable, command, {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    return 0  # not reached
