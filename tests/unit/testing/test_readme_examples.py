"""The README's two plugin examples run as written and keep the strategy contract (`check_strategy`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from benchmark.api import STRATEGIES, StepContext, Strategy, TaskSpec

README = Path(__file__).resolve().parents[3] / "README.md"
MARKER = re.compile(r"<!-- plugin-example: (?P<kind>[\w-]+) -->\n```python\n(?P<code>.*?)\n```", re.DOTALL)


def example_blocks() -> dict[str, str]:
    """The fenced Python blocks of README.md that follow a ``<!-- plugin-example: <kind> -->`` comment."""
    found: dict[str, str] = {}
    for match in MARKER.finditer(README.read_text(encoding="utf-8")):
        assert match["kind"] not in found, f"README.md marks two blocks as plugin-example: {match['kind']}"
        found[match["kind"]] = match["code"]
    return found


def example(kind: str) -> type[Strategy]:
    """Run the README block ``kind`` as a module of its own and return the one strategy class it defines."""
    blocks = example_blocks()
    assert kind in blocks, f"README.md has no block marked <!-- plugin-example: {kind} -->"
    namespace: dict[str, object] = {"__name__": f"readme_{kind.replace('-', '_')}"}
    exec(compile(blocks[kind], f"README.md ({kind} example)", "exec"), namespace)
    defined = [
        value
        for value in namespace.values()
        if isinstance(value, type) and issubclass(value, Strategy) and value.__module__ == namespace["__name__"]
    ]
    assert len(defined) == 1, f"the {kind} example defines {len(defined)} strategy classes, not one"
    return defined[0]


def test_the_readme_marks_exactly_the_two_examples():
    assert sorted(example_blocks()) == ["gradient", "loss-weighting"]


@pytest.mark.parametrize("options", [{}, {"init_log_variance": 1.0, "lr": 0.01}])
def test_the_loss_weighting_example_keeps_the_contract(check_strategy, options):
    check_strategy(example("loss-weighting"), **options)


@pytest.mark.parametrize(
    "options",
    [
        {"main": "label", "on": "representation"},  # the call the README shows
        {"main": "price", "mode": "weighted"},
    ],
)
def test_the_gradient_example_keeps_the_contract(check_strategy, options):
    check_strategy(example("gradient"), **options)


def test_the_examples_take_no_built_in_name():
    names = {example("loss-weighting").name, example("gradient").name}
    assert not names & set(STRATEGIES.names())


@pytest.mark.parametrize(("auxiliary", "kept"), [([1.0, 1.0], 1.0), ([-1.0, 0.0], 0.0)])
def test_the_gradient_example_drops_an_auxiliary_gradient_that_conflicts(auxiliary, kept):
    """g_main = (1, 0); an auxiliary gradient at 45 degrees is added, one at 180 degrees is dropped."""
    tasks = (TaskSpec("main", "regression"), TaskSpec("auxiliary", "regression"))
    strategy = example("gradient")(tasks, main="main")
    shared = torch.nn.Parameter(torch.zeros(2))
    losses = {"main": shared @ torch.tensor([1.0, 0.0]), "auxiliary": shared @ torch.tensor(auxiliary)}
    context = StepContext(losses, [shared], {"main": [], "auxiliary": []}, torch.nn.Linear(2, 2), 0, 1)
    weights = strategy.backward(context)
    assert weights["auxiliary"].item() == kept
    assert torch.allclose(shared.grad, torch.tensor([1.0, 0.0]) + kept * torch.tensor(auxiliary))
