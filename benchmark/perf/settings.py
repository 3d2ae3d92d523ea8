"""`mimo-bench perf`'s shared names: the loop cases' labels and the `Target` bounds of issue 7 they are checked against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A bound on a ratio (or a size): ``value <= bound`` when ``at_most``, else ``value >= bound``."""

    bound: float
    at_most: bool = True
    unit: str = ""

    def check(self, value: float) -> str:
        met = value <= self.bound if self.at_most else value >= self.bound
        return f"{'<=' if self.at_most else '>='} {self.bound:g}{self.unit}: {'met' if met else 'NOT met'}"


HARNESS_VS_FLOOR = Target(1.10)
SEEDS_VS_HARNESS = Target(1.25, at_most=False)
TRACKING_ON_VS_OFF = Target(1.03)
PEAK_MEMORY_GB = Target(1.5, unit=" GB")
JOBS_2_VS_1 = Target(0.65)

FLOOR, SEEDS, TRACKED, UNTRACKED = (
    "floor: bare loop, batches in memory",
    "seeds' loop: PNG files + DataLoader",
    "mimo-bench epoch, tracking on",
    "mimo-bench epoch, tracking off",
)
