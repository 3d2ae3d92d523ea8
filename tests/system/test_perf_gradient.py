"""`mimo-bench perf --only gradient`: every gradient strategy in both variants, against sum and the floor."""

from __future__ import annotations

import re

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
