"""`mimo-bench perf --only gradient`: every gradient strategy in both variants, against sum and the floor."""

from __future__ import annotations

import re

import torch

from benchmark.api.registry import STRATEGIES
from benchmark.cli import main
from tests.system.test_perf import tiny_suite  # noqa: F401 (the fixture)


def test_gradient_section_times_every_variant_against_sum_and_the_floor(tiny_suite, capsys):  # noqa: F811
    assert main(["perf", str(tiny_suite), "--only", "gradient", "--rounds", "1", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^floor: T backward passes .* 1\.000 +\[1\.000, 1\.000\]$", out, re.MULTILINE)
    for name in STRATEGIES.names():
        for on in getattr(STRATEGIES.get(name), "variants", ()):
            target = r"floor <= 1\.1" if on == "shared" else r"sum <= 1\.5"
            assert re.search(rf"^{name} \({on}\) .*{target}: (met|NOT met)$", out, re.MULTILINE), (name, on)
    assert re.search(r"^nash_mtl update_every=1 \(shared\) ", out, re.MULTILINE)


def test_a_strategy_that_updates_every_k_steps_is_timed_over_whole_cycles(tiny_suite):  # noqa: F811
    """With k = 4 and 3 steps asked, each timing runs 4 steps, so the costly update is in every window."""
    from benchmark.api.strategy import LossWeighting
    from benchmark.perf.timing import step_times
    from benchmark.suite.schema import load_suite

    class EveryFourth(LossWeighting):
        name = "every_fourth"
        updates: list[int] = []

        def __init__(self, tasks):
            super().__init__(tasks)
            self.register_buffer("step", torch.zeros((), dtype=torch.long))

        @property
        def steps_per_update(self) -> int:
            return 4

        def combine(self, ctx):
            if int(self.step) % 4 == 0:
                EveryFourth.updates.append(int(self.step))
            self.step += 1
            return sum(ctx.losses.values()), {n: torch.tensor(1.0) for n in self.task_names}

    suite = load_suite(tiny_suite)
    times = step_times(suite, {"k4": (EveryFourth, {})}, steps=3, rounds=2)
    assert len(times["k4"]) == 2
    assert EveryFourth.updates == [0, 4, 4]  # the warm-up's, then one per timing (each restarts at step 1)
