"""What the MLflow UI shows first: each run's headline metrics, and a saved view of the experiment's runs table.

**Headline metrics.** Each run logs its primary test metric per task a second time under a short name,
``best/<task> <metric>`` (the test metric of the best-val epoch's model, at that epoch's step), which sorts
before every other metric (``best_epoch``, ``grad/``, ``test/``, ``train/``, ``val/``, ``weight/``) in the
UI's column picker, in its runs table and in its chart sections.

**The saved view.** MLflow 3's runs table shows no metric column until one is picked, and keeps the pick
in the browser; its saved views (the *Views* menu of MLflow 3.17's runs page, ``?viewStateShareKey=<id>``;
read from its UI's source, not a documented API) are experiment tags ``mlflow.sharedViewState.<id>``
holding ``{"name", "createdAt", "updatedAt", "state"}``, ``state`` being the JSON of the page's search
facets and table state.  `save_view` writes one, "mimo-bench: results": the strategy runs only
(``tags.run_key != ''``, so the suite's parent run does not fold them away), grouped by the ``strategy``
tag (a group row shows each metric's mean over seeds; the charts draw each group's mean with its
min-max band) in the order the runs started, a static front's group folded, every run shown in the
charts, and these columns: the headline metrics, then ``best_epoch``.  A UI without saved views ignores the tag and opens its default view.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

VIEW_TAG_PREFIX = "mlflow.sharedViewState."
VIEW_ID = "mimo-bench-results"
VIEW_NAME = "mimo-bench: results"
HEADLINE_PREFIX = "best/"
STRATEGY_RUNS = "tags.run_key != ''"  # strategy runs and search trials; not suite or study parent runs


def headline_key(task: str, metric: str) -> str:
    """The short name a task's primary test metric is logged under as well (module docstring)."""
    return f"{HEADLINE_PREFIX}{task} {metric}"


def headline_metrics(test: Mapping[str, float], primary: Mapping[str, str]) -> dict[str, float]:
    """``test`` (``test/<task>/<metric>`` values) restricted to each task's ``primary`` metric, under
    `headline_key` names."""
    return {
        headline_key(task, metric): test[f"test/{task}/{metric}"]
        for task, metric in primary.items()
        if f"test/{task}/{metric}" in test
    }


def column(kind: str, key: str) -> str:
    """A runs-table column as the UI names it: ``metrics.`best/alphabet accuracy```."""
    return f"{kind}.`{key}`"


def view_state(headline: Sequence[str], collapsed: Sequence[str] = ()) -> dict:
    """The runs table's state in the saved view (module docstring); the groups of the ``collapsed`` labels
    start folded (the static front's trials, which would fill the page)."""
    return {
        "searchFilter": STRATEGY_RUNS,
        "orderByKey": "attributes.start_time",
        "orderByAsc": True,  # the suite's runs first, in the order they started; a later search's trials after
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "modelVersionFilter": "All Runs",
        "datasetsFilter": [],
        "selectedColumns": [*(column("metrics", key) for key in headline), column("metrics", "best_epoch")],
        "runsHiddenMode": "SHOW_ALL",
        "groupBy": {"groupByKeys": [{"mode": "tag", "groupByData": "strategy"}], "aggregateFunction": "average"},
        "groupsExpanded": {f"tag.strategy.{label}": False for label in collapsed},
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
    }


def view_tag(headline: Sequence[str], created: int | None = None, collapsed: Sequence[str] = ()) -> tuple[str, str]:
    """The experiment tag (key, value) of the saved view; ``created``: when the view was first saved (ms)."""
    now = int(time.time() * 1000)
    envelope = {
        "name": VIEW_NAME,
        "createdAt": created or now,
        "updatedAt": now,
        "state": json.dumps(view_state(headline, collapsed)),
    }
    return VIEW_TAG_PREFIX + VIEW_ID, json.dumps(envelope)


def save_view(client, experiment_id: str, headline: Sequence[str], collapsed: Sequence[str] = ()) -> str:
    """Write (or update) the experiment's saved view; returns its id, for ``?viewStateShareKey=``."""
    key = VIEW_TAG_PREFIX + VIEW_ID
    tags = client.get_experiment(experiment_id).tags
    created = None
    if key in tags:
        try:
            saved = json.loads(tags[key])
            if json.loads(saved["state"]) == view_state(headline, collapsed):
                return VIEW_ID  # unchanged: leave it (and its date) alone
            created = int(saved["createdAt"])
        except (ValueError, KeyError, TypeError):
            pass  # not ours, or damaged: rewritten
    client.set_experiment_tag(experiment_id, *view_tag(headline, created, collapsed))
    return VIEW_ID


def experiment_pages(client, base: str) -> list[tuple[str, str]]:
    """(name, address) of each experiment's runs table in the UI at ``base``, on its saved view where it
    has one; experiments with no run (MLflow's empty "Default") left out."""
    from benchmark.tracking.links import experiment_url

    pages = []
    for experiment in client.search_experiments(order_by=["last_update_time DESC"]):
        if experiment.name == "Default" and not client.search_runs([experiment.experiment_id], max_results=1):
            continue
        view = VIEW_ID if VIEW_TAG_PREFIX + VIEW_ID in experiment.tags else None
        pages.append((experiment.name, experiment_url(base, experiment.experiment_id, view)))
    return pages
