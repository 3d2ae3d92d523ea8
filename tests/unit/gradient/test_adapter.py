"""The adapter every gradient method shares: what reaches .grad, the heads, the variants, conflicts, errors."""

from __future__ import annotations

import pytest
import torch

from benchmark.api.errors import MimoBenchError
from benchmark.api.gradients import conflict_share
from benchmark.api.registry import STRATEGIES
from strategies._torchjd.adapter import TorchjdStrategy
from tests.unit.gradient.common import TASKS, build, glyphs_trainer, make_losses, make_net, real_step, step_context

FAMILY = [n for n in STRATEGIES.names() if issubclass(STRATEGIES.get(n), TorchjdStrategy)]
WEIGHTED = [n for n in FAMILY if STRATEGIES.get(n).form != "direction"]


def test_every_torchjd_method_is_registered():
    expected = {
        "upgrad",
        "mgda",
        "pcgrad",
        "cagrad",
        "imtl_g",
        "nash_mtl",
        "aligned_mtl",
        "dualproj",
        "graddrop",
        "gradvac",
        "config",
        "fairgrad",
        "excess_mtl",
        "cr_mogm",
    }
    assert expected <= set(FAMILY)


@pytest.mark.parametrize("name", WEIGHTED)
@pytest.mark.parametrize("on", ["shared", "representation"])
def test_shared_parameters_get_exactly_the_weighted_sum_and_heads_their_own_loss(name, on):
    if on not in STRATEGIES.get(name).variants:
        pytest.skip(f"{name} runs on {STRATEGIES.get(name).variants} only")
    _, shared_grad, weights, net = real_step(name, on)
    head_grads = {n: [p.grad.clone() for p in net.task_parameters()[n]] for n in net.task_parameters()}
    net.zero_grad(set_to_none=True)
    losses, _ = make_losses(net)  # the same parameters and batch: the same graph again
    total = sum(w * losses[t.name] for w, t in zip(weights, TASKS, strict=True))
    reference = torch.autograd.grad(total, net.shared_parameters(), retain_graph=True)
    torch.testing.assert_close(shared_grad, torch.cat([g.reshape(-1) for g in reference]), rtol=1e-4, atol=1e-6)
    for task in TASKS:
        expected = torch.autograd.grad(losses[task.name], net.task_parameters()[task.name], retain_graph=True)
        for got, want in zip(head_grads[task.name], expected, strict=True):
            torch.testing.assert_close(got, want)


def test_conflicts_are_logged_per_epoch_as_strategy_conflicts_and_reset():
    trainer = glyphs_trainer("mgda")
    metrics = trainer.train_epoch()
    assert 0.0 <= metrics["strategy/conflicts"] <= 1.0
    assert "conflicts" not in metrics
    assert int(trainer.strategy.conflict_steps) == 0  # reset by end_epoch


def test_conflict_share_counts_pairs_with_negative_inner_products():
    matrix = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [0.0, 1.0]])  # pair (0,1) conflicts; (0,2), (1,2) do not
    assert float(conflict_share(matrix @ matrix.T)) == pytest.approx(1 / 3)
    assert float(conflict_share(matrix.abs() @ matrix.abs().T)) == 0.0


def test_representation_variant_needs_the_representation_and_excess_mtl_refuses_it():
    with pytest.raises(MimoBenchError, match=r"strategy 'excess_mtl': on must be one of \['shared'\]"):
        build("excess_mtl", on="representation")
    with pytest.raises(MimoBenchError, match=r"strategy 'mgda': on must be one of"):
        build("mgda", on="trunk")


def test_a_missing_solver_is_a_clear_error_at_construction():
    class NeedsASolver(TorchjdStrategy):
        """A method whose solver is not installed."""

        name = "needs_a_solver"
        solvers = ("no_such_solver_package_here",)

    with pytest.raises(MimoBenchError, match=r"needs_a_solver.*no_such_solver_package_here.*pip install"):
        NeedsASolver(TASKS)


def test_bad_options_raise_the_projects_error():
    with pytest.raises(MimoBenchError, match=r"strategy 'cagrad': c must be a finite number >= 0"):
        build("cagrad", c=-1)
    with pytest.raises(MimoBenchError, match=r"strategy 'nash_mtl': update_every must be an integer >= 1"):
        build("nash_mtl", update_every=0)
    with pytest.raises(MimoBenchError, match=r"unknown option"):
        build("upgrad", c=1)


def test_stochastic_methods_draw_from_the_step_generator_and_leave_the_global_stream_alone():
    directions = []
    for _ in range(2):
        net = make_net()
        losses, representation = make_losses(net)
        context = step_context(net, losses, representation, seed=5)
        before = torch.get_rng_state()
        build("graddrop").backward(context)
        assert torch.equal(torch.get_rng_state(), before)
        directions.append(torch.cat([p.grad.reshape(-1) for p in net.shared_parameters()]))
    assert torch.equal(*directions)  # the same generator state: the same draw
