"""Existing problems train to exactly the numbers they gave before vector-valued regression targets.

`tests/unit/pinned_training.json` holds every metric of a short glyphs and tabular training (scalar regression
heads), recorded on the code before `TaskSpec.dim` existed (commit c8d332d), once per kind of machine seen: the
same code gives other last bits on other CPU kernels (glyphs with ``sum``: AMD EPYC with AVX2 against the first
machine), and a CPU model name does not tell them apart (cloud machines say "AMD EPYC").  So the numbers must
equal one machine's bit for bit or, on a kind of machine not recorded yet, lie within 1e-5 of one: a change to
the model, the losses, the metrics or the trainer's loop mostly moves them by far more.
Add this machine's kind only with the code of a passing run: ``PYTHONPATH=. python -m tests.unit.test_pinned_training``.
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
    recorded = [machine["runs"][f"{problem}/{strategy}"] for machine in json.loads(PINNED.read_text())["machines"]]
    values = short_training(problem, strategy)
    assert all(set(pinned) <= set(values) for pinned in recorded)
    if not any({k: values[k] for k in pinned} == pinned for pinned in recorded):  # exact: float equality
        assert any({k: values[k] for k in pinned} == pytest.approx(pinned, rel=1e-5) for pinned in recorded)


def this_machine() -> str:
    from benchmark.tracking.versions import cpu_model

    return f"{cpu_model()}, {torch.backends.cpu.get_cpu_capability()}"


if __name__ == "__main__":
    pinned = json.loads(PINNED.read_text())
    runs = {f"{p}/{s}": short_training(p, s) for p in CASES for s in STRATEGY_OPTIONS}
    machine = this_machine()
    pinned["machines"].append({"recorded_on": machine, "runs": runs})
    PINNED.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
    print(f"added {machine} to {PINNED}", file=sys.stderr)
