"""`mimo-bench search`: run a suite's Optuna studies, report them, and export the best trial as a suite."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.parser import at_least_one


def command(args: argparse.Namespace) -> int:
    from benchmark.suite.schema import load_suite

    suite = load_suite(args.suite, tracking_uri=args.tracking_uri)
    from benchmark.search.study import StudyRunner

    at_least_one("--jobs", args.jobs)
    runner = StudyRunner(suite, args.storage, show_progress=not args.no_progress)
    results = runner.run(args.jobs)
    for result in results:
        best = ", ".join(f"#{t.number} {t.values}" for t in result.best) or "no complete trial"
        print(f"{result.study_name}: {result.trials} trials done; best: {best}")
    from benchmark.report.analysis import print_report, report_at_end

    report = report_at_end(runner.runner.tracker, suite.name)
    if report is not None:
        print_report(report)
    if args.export_suite:
        runner.export_suite(results[0], Path(args.export_suite))
        print(f"wrote {args.export_suite}")
    return 0
