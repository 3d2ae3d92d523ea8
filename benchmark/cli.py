"""The `mimo-bench` command line: a thin layer over config, runner and tracking.

Heavy libraries (torch, mlflow) are imported only by the subcommands that need them,
so `--help` and malformed suite files answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmark import __version__
from benchmark.errors import MimoBenchError

EXIT_USAGE = 2
EXIT_RUN_FAILED = 1
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line error format (status 2)."""

    def error(self, message: str) -> None:
        self.exit(EXIT_USAGE, f"mimo-bench: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mimo-bench",
        description="Benchmark loss-balancing strategies for multi-task (MIMO) nets, tracked in MLflow.",
        epilog="Quick start: mimo-bench run experiments/quick.toml, then mimo-bench ui.",
    )
    parser.add_argument("--version", action="version", version=f"mimo-bench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="train every strategy x seed of a suite file and track the runs",
        description="Train every (strategy, seed) of a suite file; track in MLflow; print a summary table.",
    )
    run.add_argument("suite", help="path to a suite file (TOML), e.g. experiments/quick.toml")
    run.add_argument(
        "--tracking-uri",
        help="MLflow store (sqlite:///file.db, postgresql://..., http://host:port); default: the suite's "
        "[tracking] uri, else $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db",
    )
    run.add_argument("--device", choices=["cpu", "cuda", "auto"], help="override the suite's device")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    run.add_argument("--force", action="store_true", help="rerun runs that already finished (default: skip them)")
    run.add_argument("--dry-run", action="store_true", help="list what would run, resume or be skipped; train nothing")
    run.add_argument("--allow-failures", action="store_true", help="exit 0 even if some runs failed (default: exit 1)")

    search = commands.add_parser(
        "search",
        help="Optuna search over the weights and hyperparameters of the strategies in a suite's [search] table",
        description="Run an Optuna study per strategy named in the suite's [search] table; every trial is an MLflow "
        "run nested under the study's run. Running it again resumes each study up to its budget.",
    )
    search.add_argument("suite", help="path to a suite file with a [search] table")
    search.add_argument(
        "--storage",
        help="Optuna storage: journal:PATH (default: mlruns/optuna.journal), sqlite:///PATH or postgresql://...",
    )
    search.add_argument("--tracking-uri", help="MLflow store (as for run)")
    search.add_argument(
        "--export-suite",
        metavar="PATH",
        help="write the best configuration of the first searched strategy as a suite file to rerun over more seeds",
    )
    search.add_argument("--jobs", type=int, default=1, help="worker processes per study on this machine (default 1)")
    search.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    worker = commands.add_parser(
        "worker",
        help="join a suite's search studies as one more worker (on this or another machine)",
        description="Join the Optuna studies of a suite's [search] table and run trials until their budgets are "
        "met. On several machines, point every worker at one RDB storage (--storage postgresql://...) and one "
        "tracking server (--tracking-uri http://...).",
    )
    worker.add_argument("suite", help="the same suite file the search was started with")
    worker.add_argument("--storage", help="Optuna storage shared by all workers (default: mlruns/optuna.journal)")
    worker.add_argument("--tracking-uri", help="MLflow store shared by all workers")
    worker.add_argument("--study", action="append", help="only this searched strategy label (repeatable)")
    worker.add_argument("--threads", type=int, help="CPU threads for this worker's training (default: torch's)")
    worker.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    check = commands.add_parser(
        "check",
        help="validate a suite file without training",
        description="Validate a suite file and print the runs it defines.",
    )
    check.add_argument("suite", help="path to a suite file (TOML)")

    commands.add_parser(
        "strategies",
        help="list the registered strategies with their options",
        description="List the registered strategies (built-in and plugins).",
    )
    commands.add_parser(
        "problems",
        help="list the registered problems with their options",
        description="List the registered problems (built-in and plugins).",
    )

    perf = commands.add_parser(
        "perf",
        help="measure each strategy's step cost relative to the suite's first (sum)",
        description="Time the training step of each strategy configuration of a suite, on its problem and net, "
        "as a ratio to the first configuration's, interleaving the cases round by round so machine drift cancels.",
    )
    perf.add_argument(
        "suite", help="suite file whose problem, net and strategies are timed, e.g. experiments/quick.toml"
    )
    perf.add_argument("--steps", type=int, default=20, help="steps per timing (default 20)")
    perf.add_argument("--rounds", type=int, default=7, help="rounds of interleaved timings (default 7)")
    perf.add_argument("--device", choices=["cpu", "cuda", "auto"], help="override the suite's device")
    perf.add_argument(
        "--search",
        type=int,
        metavar="TRIALS",
        help="instead: time the suite's [search] with --jobs 1 vs 2 for this many trials, and the share of "
        "epochs that median pruning saves on a 20-trial study (fresh temporary stores)",
    )

    ui = commands.add_parser(
        "ui",
        help="open the MLflow UI on a tracking store",
        description="Start the MLflow UI on the default store (or --tracking-uri).",
    )
    ui.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    return parser


def _run(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite

    suite = load_suite(args.suite, tracking_uri=args.tracking_uri)
    if args.device:
        suite = dataclasses.replace(suite, device=args.device)
    from benchmark.runner import SuiteRunner
    from benchmark.summary import print_summary

    runner = SuiteRunner(suite, show_progress=not args.no_progress, force=args.force)
    if args.dry_run:
        for spec, action in runner.plan():
            print(f"{spec.name:<40} {action}")
        return 0
    outcomes = runner.run()
    print_summary(suite.name, outcomes, runner.problem.tasks)
    failed = any(o.status == "FAILED" for o in outcomes)
    return EXIT_RUN_FAILED if failed and not args.allow_failures else 0


def _search(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite

    suite = load_suite(args.suite, tracking_uri=args.tracking_uri)
    from benchmark.search import StudyRunner

    if args.jobs < 1:
        raise MimoBenchError(f"--jobs must be at least 1, got {args.jobs}")
    runner = StudyRunner(suite, args.storage, show_progress=not args.no_progress)
    results = runner.run(args.jobs)
    for result in results:
        best = ", ".join(f"#{t.number} {t.values}" for t in result.best) or "no complete trial"
        print(f"{result.study_name}: {result.trials} trials done; best: {best}")
    if args.export_suite:
        runner.export_suite(results[0], Path(args.export_suite))
        print(f"wrote {args.export_suite}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite

    suite = load_suite(args.suite, tracking_uri=args.tracking_uri)
    if args.threads is not None:
        if args.threads < 1:
            raise MimoBenchError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    from benchmark.search import StudyRunner

    StudyRunner(suite, args.storage, show_progress=not args.no_progress).work(args.study)
    return 0


def _check(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite
    from benchmark.plan import expand

    suite = load_suite(args.suite)
    specs = expand(suite)
    print(f"{args.suite}: valid; {len(specs)} run(s) on problem '{suite.problem}', tracked at {suite.tracking_uri}")
    for spec in specs:
        print(f"  {spec.name}  run_key={spec.run_key}")
    return 0


def _list(registry_name: str) -> int:
    import inspect

    from benchmark import registries

    registry = getattr(registries, registry_name)
    for name, cls in registry.load_all().items():
        options = ", ".join(
            f"{k} (required)" if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in cls.options().items()
        )
        print(f"{name:<14} {cls.summary()}")
        print(f"{'':<14} options: {options or '(none)'}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    """Replace this process with `mlflow ui` (so Ctrl-C and signals reach the server directly)."""
    from benchmark.config import default_tracking_uri

    uri = args.tracking_uri or default_tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", args.host, "--port", str(args.port), "--workers", "1"]
    print(f"MLflow UI for {uri} at http://{args.host}:{args.port} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    os.execve(sys.executable, command, {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    return 0  # not reached


def _perf(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite

    suite = load_suite(args.suite)
    if args.device:
        suite = dataclasses.replace(suite, device=args.device)
    if args.search:
        return _perf_search(suite, args.search)
    from benchmark.perf import report, strategy_step_costs

    ratios = strategy_step_costs(suite, args.steps, args.rounds)
    title = f"{suite.name}: step cost vs {suite.strategies[0].label} ({args.rounds} rounds x {args.steps} steps)"
    print(report(title, ratios))
    return 0


def _perf_search(suite, trials: int) -> int:
    import tempfile

    from benchmark.perf import pruning_savings, search_speed

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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "search":
            return _search(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "check":
            return _check(args)
        if args.command == "perf":
            return _perf(args)
        if args.command in ("strategies", "problems"):
            return _list(args.command.upper())
        return _ui(args)
    except MimoBenchError as error:
        print(f"mimo-bench: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mimo-bench: interrupted; the current run is marked KILLED", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
