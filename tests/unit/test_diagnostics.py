"""Gradient diagnostics: task-gradient norms and cosines at the last shared layer, logged per epoch."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from benchmark.api.errors import MimoBenchError
from benchmark.api.problem import ProblemData, Split
from benchmark.api.registry import STRATEGIES
from benchmark.suite.schema import load_suite, parse_suite
from benchmark.suite.toml import to_toml
from benchmark.train.diagnostics import GradientDiagnostics
from benchmark.train.metrics import task_loss
from benchmark.train.model import MimoNet, ModelConfig
from benchmark.train.trainer import TrainConfig, Trainer
from tests.unit.small_net import INPUTS, TASKS, build

PAIRS = ("kind-size", "kind-shade", "size-shade")
MODEL = ModelConfig(vector_hidden=(16,), trunk=(16,), dropout=0.1)


def split(samples: int, seed: int) -> Split:
    """Samples of the conformance tests' three tasks (kind, size, shade) from one 6-d input."""
    x = torch.randn(samples, 6, generator=torch.Generator().manual_seed(seed))
    targets = {
        "kind": x[:, 0].gt(0).long() + x[:, 1].gt(0).long(),
        "size": 100 * x[:, 2],
        "shade": x[:, 3].gt(0).long(),
    }
    return Split({"features": x}, targets)


def data() -> ProblemData:
    return ProblemData(INPUTS, TASKS, split(96, 0), split(32, 1), split(32, 2))


def trainer(strategy: str = "sum", diagnostics: bool = True, epochs: int = 2) -> Trainer:
    config = TrainConfig(epochs, 16, 1e-2, seed=3, diagnostics=diagnostics)
    return Trainer(data(), MODEL, lambda tasks: build(strategy), config)  # built for the same TASKS


def test_every_task_norm_and_every_pair_cosine_are_logged_each_epoch_within_bounds():
    run = trainer()
    for _ in range(2):
        metrics = run.train_epoch()
        assert {k for k in metrics if k.startswith("grad/")} == {
            *(f"grad/norm/{t.name}" for t in TASKS),
            *(f"grad/cosine/{pair}" for pair in PAIRS),
        }
        assert all(metrics[f"grad/norm/{t.name}"] > 0 for t in TASKS)
        assert all(-1.0 <= metrics[f"grad/cosine/{pair}"] <= 1.0 for pair in PAIRS)
    assert not any(k.startswith("grad/") for k in trainer(diagnostics=False).train_epoch())


def test_norm_and_cosine_match_a_hand_computation_on_one_batch():
    run = trainer()
    batch = run.train_split.subset(torch.arange(16))
    before, rng = copy.deepcopy(run.model), torch.get_rng_state()
    run.step(batch)
    torch.set_rng_state(rng)  # the same dropout masks
    outputs = before(batch.inputs)
    layer = list(before.last_shared_layer.parameters())
    assert [p.shape for p in layer] == [(16, 16), (16,)]  # weight and bias
    gradients = {}
    for task in TASKS:
        loss = task_loss(task, outputs[task.name], batch.targets[task.name])
        gradients[task.name] = torch.cat([g.flatten() for g in torch.autograd.grad(loss, layer, retain_graph=True)])
    logged = run.gradients.means()
    for name, gradient in gradients.items():
        assert logged[f"grad/norm/{name}"] == pytest.approx(gradient.norm().item(), rel=1e-5)
    for a, b in itertools.combinations(gradients, 2):
        expected = torch.nn.functional.cosine_similarity(gradients[a], gradients[b], dim=0).item()
        assert logged[f"grad/cosine/{a}-{b}"] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_diagnostics_on_or_off_train_bit_identical_numbers(strategy):
    runs, histories, tests = [], [], []
    for diagnostics in (False, True):  # one after the other: each run owns the global RNG while it trains
        runs.append(trainer(strategy, diagnostics))
        history = [runs[-1].train_epoch() for _ in range(2)]
        histories.append([{k: v for k, v in epoch.items() if not k.startswith("grad/")} for epoch in history])
        tests.append(runs[-1].test())
    assert "grad/norm/kind" in runs[1].history[0] and histories[0] == histories[1]
    assert tests[0] == tests[1]
    for first, second in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values(), strict=True):
        assert torch.equal(first, second)


def test_identical_losses_have_cosine_one_and_opposite_losses_cosine_minus_one():
    torch.manual_seed(0)
    net = MimoNet(INPUTS, TASKS, MODEL)
    inputs, targets = split(32, 0).inputs, split(32, 0).targets
    loss = task_loss(TASKS[0], net(inputs)["kind"], targets["kind"])
    diagnostics = GradientDiagnostics(["a", "b", "c"], torch.device("cpu"))
    diagnostics.add({"a": loss, "b": 3 * loss, "c": -loss}, net.last_shared_layer)
    values = diagnostics.means()
    assert values["grad/cosine/a-b"] == pytest.approx(1.0, abs=1e-6)
    assert values["grad/cosine/a-c"] == pytest.approx(-1.0, abs=1e-6)
    assert values["grad/cosine/b-c"] == pytest.approx(-1.0, abs=1e-6)
    assert values["grad/norm/b"] == pytest.approx(3 * values["grad/norm/a"], rel=1e-6)
    assert all(p.grad is None for p in net.parameters())  # diagnostics never touch .grad


def test_suite_key_is_validated_and_off_by_default():
    base = {"name": "d", "strategies": [{"name": "sum"}]}
    assert parse_suite(base, Path("d.toml")).diagnostics is False
    assert parse_suite({**base, "diagnostics": True}, Path("d.toml")).resolved()["diagnostics"] is True
    with pytest.raises(MimoBenchError, match=r"d\.toml: diagnostics: expected true or false.*'yes'"):
        parse_suite({**base, "diagnostics": "yes"}, Path("d.toml"))


def test_a_suite_with_diagnostics_logs_them_per_epoch_without_changing_the_run_key(tmp_path, tracking_uri):
    from benchmark.run.runner import SuiteRunner
    from benchmark.suite.plan import expand

    problem = {"name": "tabular", "samples": 300, "dim_a": 20, "dim_b": 10}
    suite = {"name": "diag", "epochs": 2, "batch_size": 32, "seeds": [0], "problem": problem}
    path = tmp_path / "diag.toml"
    path.write_text(to_toml({**suite, "diagnostics": True, "strategies": [{"name": "sum"}, {"name": "single"}]}))
    plain = tmp_path / "plain.toml"
    plain.write_text(to_toml({**suite, "strategies": [{"name": "sum"}, {"name": "single"}]}))
    loaded = load_suite(path, tracking_uri)
    assert [s.run_key for s in expand(loaded)] == [s.run_key for s in expand(load_suite(plain, tracking_uri))]

    outcomes = SuiteRunner(loaded, show_progress=False).run()
    assert [o.status for o in outcomes] == ["FINISHED", "FINISHED"]
    client = MlflowClient(tracking_uri)
    expected = {"sum": ["norm/label", "norm/price", "cosine/label-price"], "single": ["norm/label", "norm/price"]}
    for outcome in outcomes:
        logged = {k for k in client.get_run(outcome.run_id).data.metrics if k.startswith("grad/")}
        assert logged == {f"grad/{name}" for name in expected[outcome.label]}
        for name in logged:
            assert [m.step for m in client.get_metric_history(outcome.run_id, name)] == [1, 2]
