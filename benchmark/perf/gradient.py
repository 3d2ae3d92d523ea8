"""`mimo-bench perf --only gradient`: every gradient-manipulation strategy's step against `sum` and the floor.

The floor is T plain backward passes: one ``torch.autograd.grad`` per task over the shared parameters
(and that task's head), their sum written into ``.grad`` -- what any method on the shared parameters
must at least do.  Every strategy that declares ``variants`` (the torchjd family) is timed in each
variant, plus the extra configurations it lists in ``perf_cases`` (e.g. Nash-MTL updating every k
steps); the suite's own strategies come first (the first is the baseline, e.g. ``sum``; a second that
computes the same thing, e.g. ``static``, shows the noise).  All cases interleaved round by round.
"""

from __future__ import annotations

from typing import Any

from benchmark.api.gradients import add_to_grad, task_gradients
from benchmark.api.registry import STRATEGIES
from benchmark.api.strategy import GradientStrategy, StepContext, TaskWeights
from benchmark.perf.settings import Target
from benchmark.perf.timing import Ratio, ratio, step_times
from benchmark.suite.schema import Suite

FLOOR = "floor: T backward passes (autograd.grad per task)"
REPRESENTATION_VS_SUM = Target(1.5)
SHARED_VS_FLOOR = Target(1.1)


class TaskBackwardFloor(GradientStrategy):
    """The floor of a method on shared parameters: one backward per task, the gradients summed."""

    name = "floor"

    def backward(self, ctx: StepContext) -> TaskWeights:
        losses = [ctx.losses[name] for name in self.task_names]
        heads = [ctx.task_parameters[name] for name in self.task_names]
        per_shared, per_head = task_gradients(losses, ctx.shared_parameters, heads, retain_graph=False)
        for params, grads in zip(heads, per_head, strict=True):
            add_to_grad(params, grads)
        add_to_grad(ctx.shared_parameters, [sum(grads) for grads in zip(*per_shared, strict=True)])
        return dict(zip(self.task_names, losses[0].new_ones(len(losses)), strict=True))


def gradient_cases(suite: Suite) -> tuple[dict[str, tuple[type, dict]], dict[str, str]]:
    """Every case to time (label -> class and options) and, for gradient-family cases, their variant."""
    makers: dict[str, tuple[type, dict[str, Any]]] = {
        entry.label: (STRATEGIES.get(entry.name), entry.params) for entry in suite.strategies
    }
    makers[FLOOR] = (TaskBackwardFloor, {})
    variants: dict[str, str] = {}
    for name in STRATEGIES.names():
        cls = STRATEGIES.get(name)
        for on in getattr(cls, "variants", ()):
            for extra in ({}, *getattr(cls, "perf_cases", ())):
                label = f"{name}{''.join(f' {k}={v}' for k, v in extra.items())} ({on})"
                makers[label], variants[label] = (cls, {**extra, "on": on}), on
    return makers, variants


def gradient_table(suite: Suite, rounds: int, steps: int, setting: str) -> str:
    """The step costs as ratios to the suite's first strategy and to the floor, with the targets checked."""
    makers, variants = gradient_cases(suite)
    times = step_times(suite, makers, steps, rounds)
    baseline = suite.strategies[0].label
    rows: list[tuple[Ratio, Ratio, Target | None, str]] = []
    for label in makers:
        to_sum, to_floor = ratio(times, label, baseline), ratio(times, label, FLOOR)
        on = variants.get(label)
        target = {"representation": REPRESENTATION_VS_SUM, "shared": SHARED_VS_FLOOR}.get(on or "")
        rows.append((to_sum, to_floor, target, "floor" if on == "shared" else baseline))
    width = max(len(label) for label in makers) + 2
    lines = [
        f"{suite.name}: gradient strategies' step cost vs {baseline} and vs the floor ({steps} steps a timing, {setting})",
        f"{'case':<{width}} {'ms/step':>8} {'vs ' + baseline:>9} {'spread':>16} {'vs floor':>9} {'spread':>16}  target",
    ]
    for to_sum, to_floor, target, against in rows:
        measured = to_floor.median if against == "floor" else to_sum.median
        check = f"{against} {target.check(measured)}" if target else ""
        lines.append(
            f"{to_sum.case:<{width}} {to_sum.seconds * 1000:>8.2f} {to_sum.median:>9.3f} "
            f"{f'[{to_sum.low:.3f}, {to_sum.high:.3f}]':>16} {to_floor.median:>9.3f} "
            f"{f'[{to_floor.low:.3f}, {to_floor.high:.3f}]':>16}  {check}".rstrip()
        )
    return "\n".join(lines)
