"""The study run's picture: trials in objective space with the Pareto set, or objective by trial."""

from __future__ import annotations

import os
from pathlib import Path

import optuna

from benchmark.suite.search import SearchConfig


def plot_trials(study, best, tasks, search: SearchConfig, path: Path) -> None:
    """Trials in objective space (Pareto set highlighted), or objective by trial number."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    chosen = {t.number for t in best}
    figure, axes = plt.subplots(figsize=(6, 4.5))
    if search.multi_objective and len(tasks) >= 2:
        names = [f"val/{t.name}/{t.primary_metric}" for t in tasks[:2]]
        for group, color, label in ((False, "tab:gray", "trials"), (True, "tab:red", "Pareto set")):
            points = [t.values[:2] for t in complete if (t.number in chosen) == group]
            if points:
                axes.scatter(*zip(*points, strict=True), c=color, label=label)
        axes.set_xlabel(names[0])
        axes.set_ylabel(names[1])
    else:
        axes.scatter([t.number for t in complete], [t.value for t in complete], c="tab:gray", label="trials")
        axes.scatter([t.number for t in best], [t.value for t in best], c="tab:red", label="best")
        axes.set_xlabel("trial")
        axes.set_ylabel(search.objective)
    axes.set_title(study.study_name)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
