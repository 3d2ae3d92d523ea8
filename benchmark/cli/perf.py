"""`mimo-bench perf`: the timing benchmarks, as ratio tables, and the search's speed and pruning savings."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from benchmark.api.errors import MimoBenchError
from benchmark.cli.parser import at_least_one

PERF_SECTIONS = ("loops", "strategies", "memory", "jobs", "gradient")


def command(args: argparse.Namespace) -> int:
    from benchmark.suite.schema import load_suite

    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in sections if name not in PERF_SECTIONS]
    if unknown or not sections:
        raise MimoBenchError(f"perf --only {args.only!r}: choose from {', '.join(PERF_SECTIONS)}, comma-separated")
    for option, value in (("--rounds", args.rounds), ("--steps", args.steps), ("--threads", args.threads)):
        at_least_one(option, value, "perf ")
    if not 0 < args.fraction <= 1:
        raise MimoBenchError(f"perf --fraction must be in (0, 1], got {args.fraction}")
    suite = load_suite(args.suite)
    if args.device:
        suite = dataclasses.replace(suite, device=args.device)
    if args.search:
        return _perf_search(suite, args.search)
    import tempfile

    from benchmark.perf.tables import measure
    from benchmark.run.runner import DEFAULT_THREADS, set_threads

    set_threads(args.threads or DEFAULT_THREADS)  # as every run trains

    with tempfile.TemporaryDirectory() as directory:
        for section in PERF_SECTIONS:
            if section in sections:
                folder = Path(directory) / section
                print(measure(section, suite, args.rounds, args.steps, args.fraction, folder), end="\n\n", flush=True)
    return 0


def _perf_search(suite, trials: int) -> int:
    import tempfile

    from benchmark.perf.timing import pruning_savings, search_speed

    if suite.search is None:
        raise MimoBenchError(f"{suite.path}: --search needs a [search] table in the suite")
    with tempfile.TemporaryDirectory() as directory:
        timings = search_speed(suite, trials, Path(directory) / "speed")
        (Path(directory) / "pruning").mkdir()
        trained, unpruned = pruning_savings(suite, 20, Path(directory) / "pruning")
    base = timings[0][1]
    for jobs, seconds in timings:
        print(
            f"{suite.name}: {trials} trials with --jobs {jobs}: {seconds:.1f} s, "
            f"{60 * trials / seconds:.2f} trials/min, wall time {seconds / base:.2f} x --jobs 1"
        )
    saved = 1 - trained / unpruned
    print(f"{suite.name}: median pruning on 20 trials trained {trained} of {unpruned} epochs: saved {saved:.0%}")
    return 0
