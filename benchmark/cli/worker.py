"""`mimo-bench worker`: one more process on a suite's runs, or on the studies a search or another machine started."""

from __future__ import annotations

import argparse
import os

from benchmark.cli.parser import EXIT_RUN_FAILED, at_least_one


def command(args: argparse.Namespace) -> int:
    from benchmark.queue.storages import STORAGE_ENV, TRACKING_ENV
    from benchmark.search.workers import stop_when_stdin_closes
    from benchmark.suite.schema import load_suite

    if args.stop_with_parent:
        stop_when_stdin_closes()
    at_least_one("--threads", args.threads)
    at_least_one("--jobs", args.jobs)
    suite = load_suite(args.suite, tracking_uri=args.tracking_uri or os.environ.get(TRACKING_ENV))
    storage = args.storage or os.environ.get(STORAGE_ENV)
    if suite.search is None:
        return _train_runs(suite, storage, args)
    from benchmark.search.study import StudyRunner

    StudyRunner(suite, storage, show_progress=not args.no_progress, threads=args.threads).work(args.study)
    return 0


def _train_runs(suite, storage: str | None, args: argparse.Namespace) -> int:
    """Train the suite's runs that no other process has taken, through its work queue; no report."""
    from benchmark.run.processes import resolve_jobs, start_worker_server
    from benchmark.run.runner import SuiteRunner
    from benchmark.run.summary import print_summary

    if resolve_jobs(args.jobs, args.threads, suite.device) > 1:
        start_worker_server()
    runner = SuiteRunner(suite, show_progress=not args.no_progress, threads=args.threads, storage=storage)
    outcomes = runner.run(args.jobs, report=False)
    print_summary(suite.name, outcomes, runner.problem.tasks, per_strategy=True)
    return EXIT_RUN_FAILED if any(o.status == "FAILED" for o in outcomes) else 0
