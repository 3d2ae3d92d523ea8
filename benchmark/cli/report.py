"""`mimo-bench report`: an experiment's trade-off analysis in the terminal, or as Markdown or HTML files."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.api.errors import MimoBenchError


def command(args: argparse.Namespace) -> int:
    from benchmark.tracking.uri import check_tracking_uri, default_tracking_uri

    if bool(args.experiment) == bool(args.run_id):
        raise MimoBenchError(
            "name an experiment or give --run-id (one of the two), e.g. mimo-bench report glyphs-quick"
        )
    uri = args.tracking_uri or default_tracking_uri()
    check_tracking_uri(uri, "--tracking-uri")
    from benchmark.report.analysis import make_report, print_report
    from benchmark.tracking.store import Tracker

    report = make_report(
        Tracker(uri),
        args.experiment,
        args.run_id,
        args.baseline,
        args.pareto_space,
        Path(args.out) if args.out else None,
        log=not args.no_log,
    )
    print_report(report)
    if args.out:
        print(f"wrote {args.out}/summary.md, summary.csv, report.html and the plots")
    return 0
