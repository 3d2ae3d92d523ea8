"""What identifies a run (its key: the resolved configuration, device, threads and code), the code version
recorded on it, the report's one definition per strategy, and the checkpoint's best-epoch state."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.registry import PROBLEMS, STRATEGIES
from benchmark.report.analysis import make_report
from benchmark.suite.plan import expand
from benchmark.suite.schema import load_suite, parse_suite
from benchmark.suite.toml import to_toml
from benchmark.tracking.store import Tracker

TABULAR = {"name": "tabular", "samples": 150, "dim_a": 8, "dim_b": 4, "classes": 3}
TINY = {"batch_size": 32, "problem": TABULAR, "model": {"vector_hidden": [8], "trunk": [8]}}


def suite_file(folder: Path, name: str, **values) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(to_toml({"name": "identity", **TINY, **values}))
    return path


# -- item 6: the key covers the resolved configuration, device, threads and code ------------------------


def test_run_key_is_that_of_the_resolved_configuration():
    written = {k: v for k, v in STRATEGIES.get("gradnorm").options().items()}
    problem = {**PROBLEMS.get("tabular").options(), **TABULAR}
    terse = parse_suite({"name": "k", **TINY, "strategies": [{"name": "gradnorm"}]}, Path("k.toml"))
    spelled = parse_suite(
        {"name": "k", **TINY, "problem": problem, "strategies": [{"name": "gradnorm", **written}]}, Path("k.toml")
    )
    assert [s.run_key for s in expand(terse)] == [s.run_key for s in expand(spelled)]
    changed = parse_suite({"name": "k", **TINY, "strategies": [{"name": "gradnorm", "alpha": 1.0}]}, Path("k.toml"))
    assert expand(changed)[0].run_key != expand(terse)[0].run_key
    with pytest.raises(MimoBenchError, match=r"k\.toml: strategies\[1\]: duplicates 'gradnorm'"):
        parse_suite(
            {"name": "k", **TINY, "strategies": [{"name": "gradnorm"}, {"name": "gradnorm", **written}]}, Path("k.toml")
        )


DEFAULT_TRAINING = {
    "optimizer": {
        "name": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "schedule": "constant",
        "warmup_epochs": 0,
        "clip_grad_norm": 0.0,
        "head_lr": {},
    },
    "accumulate": 1,
    "early_stopping": {"patience": 0, "min_delta": 0.0},
}
TRAINING_CHANGES = [
    {"optimizer": {"name": "adamw"}},
    {"optimizer": {"name": "sgd"}},
    {"optimizer": {"name": "sgd", "momentum": 0.9}},
    {"optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}},
    {"optimizer": {"schedule": "cosine"}},
    {"optimizer": {"schedule": "step", "step_size": 2}},
    {"optimizer": {"schedule": "step", "step_size": 2, "gamma": 0.5}},
    {"optimizer": {"warmup_epochs": 1}},
    {"optimizer": {"clip_grad_norm": 1.0}},
    {"optimizer": {"head_lr": {"price": 1e-4}}},
    {"optimizer": {"trunk_lr": 1e-4}},
    {"accumulate": 2},
    {"early_stopping": {"patience": 2}},
    {"early_stopping": {"patience": 2, "min_delta": 0.01}},
]


def test_training_options_are_part_of_the_key_and_their_defaults_are_the_unset_key():
    def key(**values) -> str:
        suite = parse_suite(
            {"name": "k", **TINY, "epochs": 3, **values, "strategies": [{"name": "sum"}]}, Path("k.toml")
        )
        return expand(suite)[0].run_key

    terse = key()
    assert key(**DEFAULT_TRAINING) == terse  # every default spelled out: the same run
    changed = [key(**change) for change in TRAINING_CHANGES]
    assert terse not in changed and len(set(changed)) == len(changed)


def test_device_and_thread_count_change_the_key():
    suite = parse_suite({"name": "k", **TINY, "strategies": [{"name": "sum"}]}, Path("k.toml"))
    keys = {expand(suite, "cpu", 1)[0].run_key, expand(suite, "cpu", 2)[0].run_key, expand(suite, "cuda", 1)[0].run_key}
    assert len(keys) == 3
    assert expand(suite)[0].run_key == expand(suite, "cpu", 1)[0].run_key  # the defaults: as `run` resolves them


PLUGIN = '''
from benchmark.api.strategy import LossWeighting

class Scaled(LossWeighting):
    """Every loss times a constant."""

    def combine(self, ctx):
        weights = {n: ctx.losses[n].new_tensor(SCALE) for n in self.task_names}
        return sum(weights[n] * loss for n, loss in ctx.losses.items()), weights
'''


def plugin_key(folder: Path, source: str) -> str:
    (folder / "mimo_scaled_plugin.py").write_text(source)
    sys.modules.pop("mimo_scaled_plugin", None)
    STRATEGIES._classes.pop("mimo_scaled_plugin:Scaled", None)
    suite = parse_suite({"name": "k", **TINY, "strategies": [{"name": "mimo_scaled_plugin:Scaled"}]}, Path("k.toml"))
    return expand(suite)[0].run_key


def test_a_change_to_the_strategys_code_changes_the_key_and_a_comment_does_not(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        first = plugin_key(tmp_path, f"SCALE = 0.5\n{PLUGIN}")
        commented = plugin_key(tmp_path, f"SCALE = 0.5  # half\n\n{PLUGIN}")
        changed = plugin_key(tmp_path, f"SCALE = 0.25\n{PLUGIN}")
    finally:
        sys.modules.pop("mimo_scaled_plugin", None)
        STRATEGIES._classes.pop("mimo_scaled_plugin:Scaled", None)
    assert first == commented != changed


def git(folder: Path, *arguments: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True).stdout.strip()


def test_the_code_version_names_commit_dirty_tree_and_repository_without_credentials(tmp_path):
    from benchmark.tracking.versions import source_version

    repository = tmp_path / "checkout"
    repository.mkdir()
    git(repository, "init", "-q")
    (repository / "code.py").write_text("A = 1\n")
    git(repository, "add", "code.py")
    git(repository, "commit", "-qm", "first")
    git(repository, "remote", "add", "origin", "https://someone:s3cret@example.com/lab/mimo-bench.git")
    clean = source_version(repository)
    assert clean["mlflow.source.git.commit"] == git(repository, "rev-parse", "HEAD")
    assert clean["code_dirty"] == "false"
    assert clean["mlflow.source.git.repoURL"] == "https://example.com/lab/mimo-bench.git"
    assert clean["code_path"] == str(repository.resolve())
    (repository / "code.py").write_text("A = 2\n")
    assert source_version(repository)["code_dirty"] == "true"
    inner = repository / "inner"
    inner.mkdir()  # inside a checkout, but not its root: that checkout's commit is not this code's
    assert source_version(inner)["mlflow.source.git.commit"] == "unknown"


# -- item 5: the report covers one definition per strategy ---------------------------------------------


def run_suite(path: Path, uri: str):
    from benchmark.run.runner import SuiteRunner

    runner = SuiteRunner(load_suite(path, uri), show_progress=False)
    outcomes = runner.run()
    return runner, {(o.label, o.seed): o.run_id for o in outcomes}


def test_an_edited_suite_is_not_reported_mixed_with_its_older_definition(tmp_path, tracking_uri):
    first = suite_file(tmp_path, "v1", epochs=1, seeds=[0, 1], strategies=[{"name": "sum"}, {"name": "uncertainty"}])
    second = suite_file(tmp_path, "v2", epochs=2, seeds=[0], strategies=[{"name": "sum"}])
    old_runner, old = run_suite(first, tracking_uri)
    new_runner, new = run_suite(second, tracking_uri)

    at_end = new_runner.report  # the end-of-run report: this invocation's runs only
    assert at_end.source.runs[["label", "seed", "run_id"]].values.tolist() == [["sum", 0, new["sum", 0]]]
    assert any("uncertainty" in note and "left out" in note for note in at_end.notes)
    assert any("sum" in note and "other definition" in note for note in at_end.notes)

    latest = make_report(Tracker(tracking_uri), "identity", log=False)  # by name: the latest definition per label
    rows = latest.source.runs[["label", "seed", "run_id"]].values.tolist()
    assert rows == [
        ["sum", 0, new["sum", 0]],
        ["uncertainty", 0, old["uncertainty", 0]],
        ["uncertainty", 1, old["uncertainty", 1]],
    ]
    assert any(note.startswith("sum: 2 run(s) of 1 older definition(s) left out") for note in latest.notes)
    assert any("different settings" in note and "uncertainty" in note for note in latest.notes), latest.notes

    parent = old_runner.report.source.parent_run_id  # --run-id: that parent's runs, not only its experiment
    chosen = make_report(Tracker(tracking_uri), run_id=parent, log=False).source.runs
    assert sorted(chosen["run_id"]) == sorted(old.values())


def test_a_run_done_earlier_belongs_to_the_invocation_that_skipped_it(tmp_path, tracking_uri):
    path = suite_file(tmp_path, "v1", epochs=1, seeds=[0], strategies=[{"name": "sum"}])
    _, before = run_suite(path, tracking_uri)
    runner, after = run_suite(path, tracking_uri)  # skipped as done earlier, under an older parent
    assert after == before
    assert runner.report.source.runs["run_id"].tolist() == [before["sum", 0]]


# -- item 7: the checkpoint pairs the best-val model with the same epoch's strategy state -------------


def test_checkpoint_holds_the_strategy_state_of_the_best_epoch(tmp_path):
    from benchmark.run.runner import checkpoint, model_config
    from benchmark.train.trainer import TrainConfig, Trainer

    values = {**TINY, "problem": {**TABULAR, "samples": 60}, "model": {"vector_hidden": [32], "trunk": [32]}}
    strategy = {"name": "uncertainty", "lr": 0.5}
    suite = parse_suite({"name": "k", **values, "strategies": [strategy]}, Path("k.toml"))
    (spec,) = expand(suite)
    data = PROBLEMS.get("tabular")(**suite.problem_options).load(0)
    cls = STRATEGIES.get("uncertainty")
    config = TrainConfig(8, 16, 0.1)
    trainer = Trainer(data, model_config(suite), lambda t: cls(t, **spec.strategy.params), config)
    states = []
    for _ in range(config.epochs):
        trainer.train_epoch()
        states.append(copy.deepcopy(trainer.strategy.state_dict()))
    assert trainer.best_epoch < config.epochs  # the case at hand: the last epoch is not the best
    trainer.test()
    saved = checkpoint(trainer, data, spec)["strategy"]
    best = states[trainer.best_epoch - 1]
    assert saved.keys() == best.keys()
    assert all(torch.equal(saved[k], best[k]) for k in best)
    assert any(not torch.equal(saved[k], states[-1][k]) for k in best)
