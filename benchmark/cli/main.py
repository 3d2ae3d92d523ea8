"""`mimo-bench`: parse the command line and hand it to its command's module.

Heavy libraries (torch, mlflow) are imported only by the commands that need them, inside them,
so `--help` and malformed suite files answer at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from benchmark.api.errors import MimoBenchError
from benchmark.cli import check, perf, plugins, report, run, search, ui, worker
from benchmark.cli.parser import EXIT_INTERRUPTED, EXIT_USAGE, parser

COMMANDS = {"run": run, "search": search, "worker": worker, "check": check, "perf": perf, "report": report, "ui": ui}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if argv is None:  # the real command: `kill` (SIGTERM) stops it like Ctrl-C, leaving the run resumable
        from benchmark.run.stopping import STOP

        STOP.install()  # taken at a safe point, never inside a store write
    try:
        if args.command in ("strategies", "problems"):
            return plugins.command(args.command.upper())
        return COMMANDS[args.command].command(args)
    except MimoBenchError as error:
        from benchmark.tracking.untrusted import redact

        print(f"mimo-bench: error: {redact(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mimo-bench: interrupted; the current run is marked KILLED", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stops Python's own complaint at exit)
        return 0
