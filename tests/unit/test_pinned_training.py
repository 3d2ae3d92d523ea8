"""Existing problems train to exactly the numbers they gave before vector-valued regression targets.

`tests/unit/pinned_training.json` holds every metric of a short glyphs and tabular training (scalar regression
heads), recorded on the code before `TaskSpec.dim` existed (commit c8d332d); a change to the model, the losses,
the metrics or the trainer's loop that moves any of them by one bit fails here.  Regenerate the file only for a
change meant to move the numbers: ``PYTHONPATH=. python -m tests.unit.test_pinned_training``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.train.model import ModelConfig
from benchmark.train.trainer import TrainConfig, Trainer

PINNED = Path(__file__).with_name("pinned_training.json")
CASES = {
    "glyphs": (
        {"alphabets": 2, "characters": 3, "samples": 12, "image_size": 16, "trajectory_length": 16},
        ModelConfig(conv_channels=(4,), sequence_hidden=8, trunk=(16,)),
    ),
    "tabular": ({"dim_a": 12, "dim_b": 6, "samples": 120, "classes": 3}, ModelConfig(vector_hidden=(16,), trunk=(16,))),
}
STRATEGY_OPTIONS = {"sum": {}, "gradnorm": {"alpha": 0.5}}


def short_training(problem: str, strategy: str) -> dict[str, float]:
    """Every epoch's metrics (``<epoch>:<name>``) and the test metrics of two epochs on one CPU thread."""
    options, model = CASES[problem]
    data = PROBLEMS.get(problem)(**options).load(seed=1)
    cls = STRATEGIES.get(strategy)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer(data, model, lambda tasks: cls(tasks, **STRATEGY_OPTIONS[strategy]), TrainConfig(2, 16, 5e-3))
        values = {f"{epoch}:{k}": v for epoch in (1, 2) for k, v in trainer.train_epoch().items()}
        return {**values, **trainer.test()}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("strategy", list(STRATEGY_OPTIONS))
@pytest.mark.parametrize("problem", list(CASES))
def test_existing_problems_train_to_the_pinned_numbers(problem, strategy):
    pinned = json.loads(PINNED.read_text())[f"{problem}/{strategy}"]
    values = short_training(problem, strategy)
    assert set(pinned) <= set(values)
    assert {k: values[k] for k in pinned} == pinned  # exact: float equality, not approx


if __name__ == "__main__":
    results = {f"{p}/{s}": short_training(p, s) for p in CASES for s in STRATEGY_OPTIONS}
    PINNED.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"wrote {PINNED}", file=sys.stderr)
