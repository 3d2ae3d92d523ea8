"""What was run: the problem and its options, the model, the training settings, the strategies with their
options, when, with which code and on which device, read back from the runs' params and tags."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from benchmark.report.data import ExperimentRuns
from benchmark.tracking.store import Tracker

GROUPS = {  # param prefix -> what the row is called
    "problem": "problem",
    "model": "model",
    "optimizer": "optimizer",
    "early_stopping": "early stopping",
}
TRAINING = ("epochs", "batch_size", "accumulate")


@dataclass
class Setup:
    """The report's "what was run" section: (what, value) rows and one row of options per strategy."""

    settings: list[tuple[str, str]] = field(default_factory=list)
    strategies: list[tuple[str, str]] = field(default_factory=list)


def read_setup(tracker: Tracker, source: ExperimentRuns) -> Setup:
    """From one counted run per strategy (its params hold the resolved definition) and the parent run."""
    runs = source.runs[source.runs["counts"]].drop_duplicates("label")
    if runs.empty:
        return Setup()
    client = tracker.client
    first = client.get_run(runs["run_id"].iloc[0])
    params, tags = first.data.params, first.data.tags
    parent = client.get_run(source.parent_run_id) if source.parent_run_id else None
    setup = Setup()
    problem = params.get("problem.name", tags.get("problem", "?"))
    setup.settings.append(("problem", f"{problem} ({_options(params, 'problem', skip={'name'})})"))
    for prefix in ("model", "optimizer", "early_stopping"):
        if any(key.startswith(f"{prefix}.") for key in params):
            setup.settings.append((GROUPS[prefix], _options(params, prefix)))
    training = ", ".join(f"{key.replace('_', ' ')} {params[key]}" for key in TRAINING if key in params)
    setup.settings.append(("training", training))
    seeds = parent.data.params.get("seeds") if parent else None
    setup.settings.append(("seeds", seeds or json.dumps(sorted(int(s) for s in source.runs["seed"].unique()))))
    threads = params.get("threads", tags.get("torch_threads", "?"))
    setup.settings.append(("device", f"{params.get('device', '?')}, {threads} CPU thread(s) per run"))
    started = (parent or first).info.start_time
    setup.settings.append(("date", datetime.fromtimestamp(started / 1000).astimezone().strftime("%Y-%m-%d %H:%M %Z")))
    setup.settings.append(("code", _code(tags)))
    libraries = ", ".join(
        f"{name} {tags[f'{name}_version']}" for name in ("torch", "mlflow", "optuna") if f"{name}_version" in tags
    )
    setup.settings.append(("libraries", f"{libraries}, python {tags.get('python_version', '?')}"))
    for row in runs.itertuples():
        own = first if row.run_id == first.info.run_id else client.get_run(row.run_id)
        name = own.data.params.get("strategy", row.label)
        options = _options(own.data.params, "strategy")
        setup.strategies.append((str(row.label), f"{name} ({options})" if options else name))
    return setup


def _options(params: dict[str, str], prefix: str, skip: set[str] = frozenset()) -> str:
    """``a = 1, b = [2, 3]`` from the params under ``<prefix>.`` (nested keys keep their dots)."""
    found = {k.removeprefix(f"{prefix}."): v for k, v in params.items() if k.startswith(f"{prefix}.")}
    return ", ".join(f"{key} = {value}" for key, value in found.items() if key not in skip)


def _code(tags: dict[str, str]) -> str:
    version = f"mimo-bench {tags.get('mimo_bench_version', '?')}"
    commit = tags.get("mlflow.source.git.commit", "unknown")
    if commit == "unknown":
        return f"{version}, commit not recorded (not run from the top of a git checkout)"
    dirty = " with uncommitted changes" if tags.get("code_dirty") == "true" else ""
    return f"{version}, commit {commit[:12]}{dirty}"
