"""`mimo-bench run`: train a suite's runs (or list them with --dry-run) and print the summary and report."""

from __future__ import annotations

import argparse
import dataclasses
import os

from benchmark.cli.check import print_unimported
from benchmark.cli.parser import EXIT_RUN_FAILED, at_least_one


def command(args: argparse.Namespace) -> int:
    from benchmark.suite.schema import load_suite

    at_least_one("--jobs", args.jobs)
    at_least_one("--threads", args.threads)
    import_plugins = args.allow_plugins or not args.dry_run
    suite = load_suite(args.suite, tracking_uri=args.tracking_uri, import_plugins=import_plugins)
    if args.device:
        suite = dataclasses.replace(suite, device=args.device)
    from benchmark.run.processes import resolve_jobs, start_worker_server

    if args.executor == "ray":
        _check_ray()
    if not args.dry_run and args.executor == "local" and resolve_jobs(args.jobs, args.threads, suite.device) > 1:
        start_worker_server()  # the workers' imports now, beside this process's own ('auto' device: as on CPU)
    from benchmark.queue.storages import STORAGE_ENV
    from benchmark.run.runner import SuiteRunner
    from benchmark.run.summary import print_summary

    storage = args.storage or os.environ.get(STORAGE_ENV)
    ray_address = args.address if args.executor == "ray" else None
    runner = SuiteRunner(
        suite,
        show_progress=not args.no_progress,
        force=args.force,
        threads=args.threads,
        storage=storage,
        ray_address=ray_address,
    )
    front = suite.compare.static_front
    if args.dry_run:
        for spec, action in runner.plan():
            print(f"{spec.name:<40} {action}")
        if front:
            print(f"{'static-front':<40} an Optuna study of {front.trials} static weightings (resumed up to that)")
        print_unimported(suite)
        return 0
    outcomes = runner.run(args.jobs, report=front is None)
    if front:
        _static_front(suite, runner, args)
    print_summary(suite.name, outcomes, runner.problem.tasks, per_strategy=runner.report is None)
    if runner.report is not None:
        from benchmark.report.analysis import print_report

        print_report(runner.report)
    failed = any(o.status == "FAILED" for o in outcomes)
    return EXIT_RUN_FAILED if failed and not args.allow_failures else 0


def _static_front(suite, runner, args: argparse.Namespace) -> None:
    """The [compare] static front's study after the strategy runs, then the report that places them against it
    (a failed study is said and the report made without it: every strategy run is already safe)."""
    import sys

    from benchmark.api.errors import MimoBenchError, one_line
    from benchmark.report.analysis import report_at_end
    from benchmark.search.front import run_static_front

    try:
        run_static_front(suite, runner.storage_url, show_progress=not args.no_progress, threads=args.threads)
    except MimoBenchError as error:
        print(f"mimo-bench: warning: the static front's study stopped: {one_line(error)}", file=sys.stderr)
    runner.report = report_at_end(runner.tracker, suite.name, runner.parent_run_id)


def _check_ray() -> None:
    """--executor ray needs the ray package: say so in one line if it is missing."""
    import importlib.util

    from benchmark.api.errors import MimoBenchError

    if importlib.util.find_spec("ray") is None:
        raise MimoBenchError("--executor ray needs the ray package: pip install 'mimo-bench[ray]'")
