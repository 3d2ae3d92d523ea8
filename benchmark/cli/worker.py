"""`mimo-bench worker`: one more process working on a study that a search or another machine started."""

from __future__ import annotations

import argparse
import os

from benchmark.cli.parser import at_least_one


def command(args: argparse.Namespace) -> int:
    from benchmark.search.workers import STORAGE_ENV, TRACKING_ENV, stop_when_stdin_closes
    from benchmark.suite.schema import load_suite

    if args.stop_with_parent:
        stop_when_stdin_closes()
    at_least_one("--threads", args.threads)
    suite = load_suite(args.suite, tracking_uri=args.tracking_uri or os.environ.get(TRACKING_ENV))
    from benchmark.search.study import StudyRunner

    storage = args.storage or os.environ.get(STORAGE_ENV)
    StudyRunner(suite, storage, show_progress=not args.no_progress, threads=args.threads).work(args.study)
    return 0
