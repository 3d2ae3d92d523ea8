"""Malformed suite files: exit status 2, one message naming file, key and what is allowed; nothing tracked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.suite.schema import load_suite

VALID = """
name = "errors"
epochs = 1
batch_size = 16
seeds = [0]
[problem]
name = "tabular"
samples = 200
[[strategies]]
name = "sum"
[[strategies]]
name = "static"
weights = { label = 1.0, price = 0.5 }
"""

# (what to change, suite text, substrings the one-line message must contain)
CASES = [
    ("syntax error", VALID + "\nepochs = = 3\n", ["not valid TOML", "line"]),
    (
        "unknown top-level key",
        VALID.replace("epochs = 1", "epoch = 1"),
        ["epoch: unknown key", "did you mean 'epochs'"],
    ),
    ("wrong type", VALID.replace("epochs = 1", 'epochs = "three"'), ["epochs", "positive integer", "'three'"]),
    ("zero epochs", VALID.replace("epochs = 1", "epochs = 0"), ["epochs", "positive integer"]),
    ("empty seeds", VALID.replace("seeds = [0]", "seeds = []"), ["seeds", "non-empty"]),
    ("repeated seeds", VALID.replace("seeds = [0]", "seeds = [1, 1]"), ["seeds", "repeat"]),
    ("negative lr", VALID + "[optimizer]\nlr = -0.1\n", ["optimizer.lr", "> 0.0"]),
    ("unknown optimizer key", VALID + "[optimizer]\nrl = 0.1\n", ["optimizer.rl", "did you mean 'lr'"]),
    ("unknown model key", VALID + "[model]\ntrunc = [32]\n", ["model.trunc", "did you mean 'trunk'"]),
    ("bad model widths", VALID + "[model]\ntrunk = []\n", ["model.trunk", "positive integers"]),
    (
        "unknown device",
        VALID.replace("seeds = [0]", 'seeds = [0]\ndevice = "gpu"'),
        ["device", "allowed: cpu, cuda, auto"],
    ),
    (
        "unknown problem",
        VALID.replace('name = "tabular"', 'name = "tabularr"'),
        ["problem.name", "did you mean 'tabular'"],
    ),
    (
        "unknown problem option",
        VALID.replace("samples = 200", "sample = 200"),
        ["problem.sample", "did you mean 'samples'"],
    ),
    ("unknown strategy", VALID.replace('name = "sum"', 'name = "summ"'), ["strategies[0].name", "did you mean 'sum'"]),
    ("strategy without name", VALID.replace('name = "sum"', 'label = "x"'), ["strategies[0].name", "missing"]),
    (
        "option of another strategy",
        VALID.replace('name = "sum"', 'name = "sum"\nweights = { label = 1.0 }'),
        ["strategies[0].weights", "unknown option for sum"],
    ),
    (
        "static weights missing",
        VALID.replace("weights = { label = 1.0, price = 0.5 }", ""),
        ["strategies[1]", "static needs option(s) weights"],
    ),
    (
        "static weight negative",
        VALID.replace("price = 0.5", "price = -0.5"),
        ["strategies[1]", "weights.price", ">= 0"],
    ),
    (
        "static weights all zero",
        VALID.replace("label = 1.0, price = 0.5", "label = 0, price = 0.0"),
        ["strategies[1]", "all zero"],
    ),
    (
        "static weight for unknown task",
        VALID.replace("price = 0.5", "price = 0.5, prize = 1.0"),
        ["strategies[1]", "unknown task", "prize"],
    ),
    (
        "static weight task missing",
        VALID.replace("label = 1.0, price = 0.5", "label = 1.0"),
        ["strategies[1]", "missing task", "price"],
    ),
    ("duplicate strategies", VALID + '[[strategies]]\nname = "sum"\n', ["strategies[2]", "duplicates 'sum'"]),
    ("no strategies", VALID.split("[[strategies]]")[0], ["strategies", "missing"]),
    ("missing name", VALID.replace('name = "errors"', ""), ["name: missing"]),
    ("float epochs", VALID.replace("epochs = 1", "epochs = 2.5"), ["epochs", "positive integer", "2.5"]),
    ("zero batch size", VALID.replace("batch_size = 16", "batch_size = 0"), ["batch_size", "positive integer"]),
    ("negative seed", VALID.replace("seeds = [0]", "seeds = [-1]"), ["seeds", "non-negative integers"]),
    ("seeds not an array", VALID.replace("seeds = [0]", "seeds = 3"), ["seeds", "an array of integers"]),
    ("infinite lr", VALID + "[optimizer]\nlr = inf\n", ["optimizer.lr", "finite number"]),
    ("negative weight decay", VALID + "[optimizer]\nweight_decay = -1\n", ["optimizer.weight_decay", ">= 0.0"]),
    ("dropout of one", VALID + "[model]\ndropout = 1.0\n", ["model.dropout", "[0, 1)"]),
    (
        "problem not a table",
        VALID.replace('[problem]\nname = "tabular"\nsamples = 200', 'problem = "tabular"'),
        ["problem", "expected a table"],
    ),
    (
        "problem option of wrong type",
        VALID.replace("samples = 200", 'samples = "many"'),
        ["problem 'tabular': samples must be an integer"],
    ),
    (
        "strategy entry not a table",
        'strategies = ["sum"]\n' + VALID.split("[[strategies]]")[0],
        ["strategies[0]", "must be a table"],
    ),
    (
        "static weights not a table",
        VALID.replace("weights = { label = 1.0, price = 0.5 }", 'weights = "equal"'),
        ["strategies[1]", "weights must be a table keyed by task name"],
    ),
    (
        "gradnorm alpha of wrong type",
        VALID + '[[strategies]]\nname = "gradnorm"\nalpha = "high"\n',
        ["strategies[2]", "alpha must be a finite number >= 0", "'high'"],
    ),
    (
        "normalized decay out of range",
        VALID + '[[strategies]]\nname = "normalized"\ndecay = 1.5\n',
        ["strategies[2]", "decay must be a number in [0, 1)"],
    ),
    (
        "alternating unknown schedule",
        VALID + '[[strategies]]\nname = "alternating"\nschedule = "cyclic"\n',
        ["strategies[2]", "schedule must be one of"],
    ),
    (
        "label used twice",
        VALID.replace('name = "sum"', 'name = "sum"\nlabel = "static"'),
        ["strategies[1].label", "used twice"],
    ),
    ("unknown tracking key", VALID + '[tracking]\nurl = "sqlite:///x.db"\n', ["tracking.url", "did you mean 'uri'"]),
    (
        "tracking uri of unknown scheme",
        VALID + '[tracking]\nuri = "ftp://host/x"\n',
        ["tracking.uri", "not a tracking store URI"],
    ),
    (
        "file store refused",
        VALID + '[tracking]\nuri = "file:///tmp/mlruns"\n',
        ["tracking.uri", "not a tracking store URI"],
    ),
    (
        "search of an unknown label",
        VALID + '[search]\nstrategies = ["statik"]\n',
        ["search.strategies", "did you mean 'static'"],
    ),
    (
        "search objective unknown",
        VALID + '[search]\nobjective = "val/label/acc"\n',
        ["search.objective", "val/label/accuracy"],
    ),
    (
        "search space with no valid point",
        VALID
        + '[[strategies]]\nname = "gradnorm"\n[search]\nstrategies = ["gradnorm"]\n[search.space.gradnorm]\nalpha = [4.0, 5.0]\n',
        ["search.space.gradnorm.alpha", "leaves no valid point", "<= 3"],
    ),
    (
        "search space of an unknown parameter",
        VALID
        + '[[strategies]]\nname = "gradnorm"\n[search]\nstrategies = ["gradnorm"]\n[search.space.gradnorm]\nalfa = [1.0, 2.0]\n',
        ["search.space.gradnorm.alfa", "did you mean 'alpha'"],
    ),
    (
        "pruning a pareto search",
        VALID + '[search]\nobjective = "pareto"\npruner = "median"\n',
        ["search.pruner", "single objective"],
    ),
    ("zero trials", VALID + "[search]\ntrials = 0\n", ["search.trials", "positive integer"]),
]


def write_suite(directory: Path, text: str) -> Path:
    path = directory / "suite.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_suite_exits_2_with_one_clear_line(case, text, expected, tmp_path, capsys):
    assert_one_clear_line(text, expected, tmp_path, capsys)


def assert_one_clear_line(text: str, expected: list[str], tmp_path: Path, capsys) -> None:
    """`mimo-bench run` of a suite with ``text``: status 2, one line with every ``expected`` fragment, no store."""
    suite = write_suite(tmp_path, text)
    store = tmp_path / "store" / "mlflow.db"
    status = main(["run", str(suite), "--tracking-uri", f"sqlite:///{store}", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("mimo-bench: error: ") and str(suite) in err
    assert len(err.splitlines()) == 1, err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not store.exists(), "a bad suite must not touch the tracking store"


CLI_CASES = [
    ("unknown command", ["walk"], ["invalid choice: 'walk'", "--help"]),
    ("run without a suite", ["run"], ["the following arguments are required: suite"]),
    ("unknown device", ["run", "SUITE", "--device", "gpu"], ["invalid choice: 'gpu'"]),
    (
        "tracking uri that is a path",
        ["run", "SUITE", "--tracking-uri", "./mlruns"],
        ["--tracking-uri", "not a tracking"],
    ),
    ("relative sqlite uri", ["run", "SUITE", "--tracking-uri", "sqlite:mlflow.db"], ["sqlite:///"]),
    ("suite that does not exist", ["run", "nowhere/suite.toml"], ["nowhere/suite.toml: no such suite file"]),
    ("suite that is a folder", ["run", "."], ["cannot read suite file"]),
    ("check of a bad suite", ["check", "BAD"], ["epochs", "positive integer"]),
    (
        "search storage of unknown scheme",
        ["search", "SEARCH", "--storage", "redis://localhost/0"],
        ["--storage", "journal:PATH"],
    ),
    ("search without a [search] table", ["search", "SUITE"], ["no [search] table"]),
]


@pytest.mark.parametrize(("case", "argv", "expected"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_call_exits_2_with_one_line(case, argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = write_suite(tmp_path, VALID)
    bad = tmp_path / "bad.toml"
    bad.write_text(VALID.replace("epochs = 1", "epochs = 0"))
    searching = tmp_path / "search.toml"
    searching.write_text(VALID + "[search]\ntrials = 2\n")
    argv = [{"SUITE": str(good), "BAD": str(bad), "SEARCH": str(searching)}.get(a, a) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("mimo-bench: error: ") and len(err.splitlines()) == 1, err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not (tmp_path / "mlruns").exists()


def test_missing_file_names_it(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such suite file" in capsys.readouterr().err


def test_valid_suite_resolves_defaults(tmp_path):
    suite = load_suite(write_suite(tmp_path, VALID))
    assert [s.label for s in suite.strategies] == ["sum", "static"]
    assert suite.optimizer == {
        "name": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "schedule": "constant",
        "warmup_epochs": 0,
        "clip_grad_norm": 0.0,
        "head_lr": {},
    }
    assert suite.accumulate == 1 and suite.early_stopping == {"patience": 0, "min_delta": 0.0}
    assert suite.tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert suite.resolved()["strategies"][1]["weights"] == {"label": 1.0, "price": 0.5}


def test_same_strategy_twice_gets_distinct_labels(tmp_path):
    text = VALID + '[[strategies]]\nname = "static"\nweights = { label = 0.2, price = 1.0 }\n'
    assert [s.label for s in load_suite(write_suite(tmp_path, text)).strategies] == ["sum", "static", "static-2"]


@pytest.mark.parametrize(
    "text",
    [
        VALID.replace("epochs = 1", "epochs = -1"),
        VALID + '[optimizer]\nname = "sgd"\nnesterov = true\n',
        VALID + "[early_stopping]\npatience = -2\n",
        VALID.replace("seeds = [0]", "seeds = [0]\naccumulate = 0"),
    ],
    ids=["epochs", "optimizer", "early stopping", "accumulate"],
)
def test_bad_suite_in_a_real_process_has_no_traceback_and_skips_torch(tmp_path, text):
    """The error path of the installed command: status 2, no traceback, torch not even imported."""
    suite = write_suite(tmp_path, text)
    probe = "import sys; from benchmark.cli import main; rc = main(sys.argv[1:]); print('torch' in sys.modules); sys.exit(rc)"
    result = subprocess.run([sys.executable, "-c", probe, "run", str(suite)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == "False"
