"""Malformed training options ([optimizer], accumulate, [early_stopping]): one line naming file, key and what is allowed."""

from __future__ import annotations

import pytest

from tests.system.test_suite_errors import VALID, assert_one_clear_line

# (what to change, suite text, substrings the one-line message must contain)
CASES = [
    (
        "unknown optimizer",
        VALID + '[optimizer]\nname = "adamm"\n',
        ["optimizer.name", "did you mean 'adam'", "allowed: adam, adamw, sgd"],
    ),
    (
        "momentum for adam",
        VALID + "[optimizer]\nmomentum = 0.9\n",
        ["optimizer.momentum", 'applies to name = "sgd" only'],
    ),
    (
        "nesterov without momentum",
        VALID + '[optimizer]\nname = "sgd"\nnesterov = true\n',
        ["optimizer.nesterov", "needs momentum > 0"],
    ),
    ("momentum of one", VALID + '[optimizer]\nname = "sgd"\nmomentum = 1.0\n', ["optimizer.momentum", "[0, 1)"]),
    (
        "unknown schedule",
        VALID + '[optimizer]\nschedule = "cosin"\n',
        ["optimizer.schedule", "did you mean 'cosine'", "allowed: constant, cosine, step"],
    ),
    ("step schedule without step", VALID + '[optimizer]\nschedule = "step"\n', ["optimizer.step_size", "missing"]),
    (
        "step size for cosine",
        VALID + '[optimizer]\nschedule = "cosine"\nstep_size = 2\n',
        ["optimizer.step_size", 'applies to schedule = "step" only'],
    ),
    (
        "gamma above one",
        VALID + '[optimizer]\nschedule = "step"\nstep_size = 2\ngamma = 2.0\n',
        ["optimizer.gamma", "(0, 1]"],
    ),
    ("warmup as long as the run", VALID + "[optimizer]\nwarmup_epochs = 1\n", ["optimizer.warmup_epochs", "[0, 0]"]),
    ("negative clip", VALID + "[optimizer]\nclip_grad_norm = -1.0\n", ["optimizer.clip_grad_norm", ">= 0.0"]),
    (
        "misspelt clip",
        VALID + "[optimizer]\nclip_grad = 1.0\n",
        ["optimizer.clip_grad: unknown key", "did you mean 'clip_grad_norm'"],
    ),
    (
        "head lr of an unknown task",
        VALID + "[optimizer]\nhead_lr = { prize = 1e-4 }\n",
        ["optimizer.head_lr.prize", "unknown task", "did you mean 'price'", "tasks: label, price"],
    ),
    ("head lr of zero", VALID + "[optimizer]\nhead_lr = { price = 0 }\n", ["optimizer.head_lr.price", "> 0.0"]),
    ("head lr not a table", VALID + "[optimizer]\nhead_lr = 0.1\n", ["optimizer.head_lr", "a table of task"]),
    ("negative trunk lr", VALID + "[optimizer]\ntrunk_lr = -1e-3\n", ["optimizer.trunk_lr", "> 0.0"]),
    (
        "zero accumulate",
        VALID.replace("seeds = [0]", "seeds = [0]\naccumulate = 0"),
        ["accumulate", "positive integer"],
    ),
    ("float accumulate", VALID.replace("seeds = [0]", "seeds = [0]\naccumulate = 1.5"), ["accumulate", "1.5"]),
    ("negative patience", VALID + "[early_stopping]\npatience = -1\n", ["early_stopping.patience", ">= 0"]),
    (
        "misspelt patience",
        VALID + "[early_stopping]\npatients = 3\n",
        ["early_stopping.patients: unknown key", "did you mean 'patience'"],
    ),
    ("min delta alone", VALID + "[early_stopping]\nmin_delta = 0.01\n", ["early_stopping.min_delta", "needs patience"]),
    (
        "unsearchable training option",
        VALID + "[search]\noptimizer_space = { nesterov = [true] }\n",
        ["search.optimizer_space.nesterov", "not searchable", "searchable: lr, weight_decay"],
    ),
    (
        "lr range reaching zero",
        VALID + "[search]\noptimizer_space = { lr = [0.0, 0.1] }\n",
        ["search.optimizer_space.lr", "log scale: low must be > 0"],
    ),
    (
        "reversed range",
        VALID + "[search]\noptimizer_space = { weight_decay = [0.1, 0.0] }\n",
        ["search.optimizer_space.weight_decay", "low <= high"],
    ),
    (
        "a corner that is no optimizer",
        VALID + '[search]\noptimizer_space = { name = ["adam", "sgd"], momentum = [0.0, 0.9] }\n',
        ["search.optimizer_space: at", "name = 'adam'", 'optimizer.momentum: applies to name = "sgd" only'],
    ),
    (
        "warmup as long as the run",
        VALID + "[search]\noptimizer_space = { warmup_epochs = [0, 1] }\n",
        ["search.optimizer_space: at warmup_epochs = 1", "optimizer.warmup_epochs", "[0, 0]"],
    ),
    (
        "lr searched twice",
        VALID + "[search]\nsearch_lr = true\noptimizer_space = { lr = [1e-4, 1e-3] }\n",
        ["search.optimizer_space.lr", "keep one of the two"],
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_training_option_exits_2_with_one_clear_line(case, text, expected, tmp_path, capsys):
    assert_one_clear_line(text, expected, tmp_path, capsys)
