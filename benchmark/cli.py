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
ALLOW_PLUGINS_HELP = (
    "import the module:attr plugins the suite names, to check their options (default: a suite file is data; "
    "their modules are only located, never run)"
)


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
    run.add_argument("--allow-plugins", action="store_true", help=ALLOW_PLUGINS_HELP + " (with --dry-run)")
    run.add_argument("--allow-failures", action="store_true", help="exit 0 even if some runs failed (default: exit 1)")
    run.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="K|auto",
        help="train this many runs at once, each in its own worker process (default 1: in this process); 'auto': "
        "one per usable CPU core (divided by --threads) on CPU, 1 on CUDA",
    )
    run.add_argument(
        "--threads",
        type=int,
        help="CPU threads per run (default 1: the same numbers whatever --jobs and machine; more threads change "
        "the last bits); use --jobs to fill the cores",
    )

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
    worker.add_argument(
        "--storage",
        help="Optuna storage shared by all workers (default: $MIMO_BENCH_STORAGE, else mlruns/optuna.journal; "
        "the variable keeps a password out of `ps`)",
    )
    worker.add_argument(
        "--tracking-uri", help="MLflow store shared by all workers (default: $MIMO_BENCH_TRACKING_URI, else as for run)"
    )
    worker.add_argument("--study", action="append", help="only this searched strategy label (repeatable)")
    worker.add_argument("--threads", type=int, help="CPU threads per trial (default 1, as for run)")
    worker.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    worker.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="stop (the trial's run marked KILLED) when stdin closes: how `search --jobs` starts its workers",
    )

    check = commands.add_parser(
        "check",
        help="validate a suite file without training",
        description="Validate a suite file and print the runs it defines. No code that the file names is run: "
        "module:attr plugins are only located unless --allow-plugins (built-in and installed plugins are imported).",
    )
    check.add_argument("suite", help="path to a suite file (TOML)")
    check.add_argument("--allow-plugins", action="store_true", help=ALLOW_PLUGINS_HELP)

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
        help="measure the harness against a bare loop and the seeds' loop, each strategy's step cost, peak memory",
        description="Time a suite's problem and net in one process, the cases interleaved round by round so machine "
        "drift cancels; every figure is a median ratio with its min-max spread over rounds and a check against "
        "issue 7's targets. Sections (--only): 'loops' = one epoch of the train split in a bare loop on batches in "
        "memory (the floor), in the seeds' loop (PNG files read by a DataLoader), and as mimo-bench trains it "
        "(sum) with tracking on and off; 'strategies' = each strategy's step cost vs the suite's first (sum); "
        "'memory' = peak RSS of one real `mimo-bench run` (first strategy and seed, 1 epoch).",
        epilog="e.g. mimo-bench perf experiments/perf_omniglot_size.toml --rounds 3 --threads 1",
    )
    perf.add_argument(
        "suite", help="suite file whose problem, net and strategies are timed, e.g. experiments/perf_omniglot_size.toml"
    )
    perf.add_argument(
        "--only",
        default="loops,strategies,memory",
        help="comma-separated sections to measure: loops (floor vs seeds' loop vs mimo-bench's epoch, tracking on "
        "and off), strategies (step cost vs the first), gradient (every gradient strategy in both variants vs the "
        "first and vs the floor of T backward passes), memory (peak RSS of a run), jobs (a suite with --jobs 1 vs "
        "2; long) (default: loops,strategies,memory)",
    )
    perf.add_argument("--rounds", type=int, default=7, help="rounds of interleaved timings (default 7)")
    perf.add_argument("--steps", type=int, default=20, help="strategies: training steps per timing (default 20)")
    perf.add_argument(
        "--fraction",
        type=float,
        default=1.0,
        help="loops: share of every split to train and validate on, evenly spread (default 1: whole epochs)",
    )
    perf.add_argument("--threads", type=int, help="CPU threads for torch in this process (default 1, as runs train)")
    perf.add_argument("--device", choices=["cpu", "cuda", "auto"], help="override the suite's device")
    perf.add_argument(
        "--search",
        type=int,
        metavar="TRIALS",
        help="instead: time the suite's [search] with --jobs 1 vs 2 for this many trials, and the share of "
        "epochs that median pruning saves on a 20-trial study (fresh temporary stores)",
    )

    report = commands.add_parser(
        "report",
        help="analyse an experiment's runs: tables over seeds, Δm%%, significance, Pareto fronts, plots",
        description="Turn an experiment's runs into a trade-off analysis: per strategy each task's test metrics "
        "(mean ± std, 95% CI over seeds), Δm% and mean rank against a baseline, paired t-tests over seeds, the "
        "Pareto set over every run and search trial (val metrics by default) with each strategy's hypervolume, "
        "and plots (Pareto fronts, weight trajectories, learning curves, gradient diagnostics). Printed, written to --out, and logged on the "
        "experiment's latest suite (or study) run: artifacts under report/ and the tables as its description.",
    )
    report.add_argument("experiment", nargs="?", help="experiment name (= the suite's name), e.g. glyphs-quick")
    report.add_argument("--run-id", help="instead of a name: a parent run; the report is logged on that run")
    report.add_argument("--out", metavar="FOLDER", help="also write summary.md, summary.csv, report.html and PNGs here")
    report.add_argument(
        "--baseline",
        default="sum",
        help="strategy label that Δm%% and the tests compare against (default sum; "
        "'single' for the single-task reference)",
    )
    report.add_argument(
        "--pareto-space",
        choices=["val", "test"],
        default="val",
        help="metrics of the Pareto analysis: val at each run's best-val epoch (default: no choice made on "
        "test), or test (a best-of-N on test once search trials are pooled)",
    )
    report.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db")
    report.add_argument("--no-log", action="store_true", help="do not log the report on the parent run")

    ui = commands.add_parser(
        "ui",
        help="open the MLflow UI on a tracking store",
        description="Start the MLflow UI on the default store (or --tracking-uri).",
    )
    ui.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    return parser


def _jobs(value: str) -> int | None:
    """``--jobs``: a count, or 'auto' (None: `benchmark.worker_processes.resolve_jobs` decides)."""
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {value!r}") from None


def _at_least_one(option: str, value: int | None, command: str = "") -> None:
    """A count option (``--jobs``, ``--threads``, ...) below 1 is a usage error; None means its default."""
    if value is not None and value < 1:
        raise MimoBenchError(f"{command}{option} must be at least 1, got {value}")


def _run(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite

    _at_least_one("--jobs", args.jobs)
    _at_least_one("--threads", args.threads)
    import_plugins = args.allow_plugins or not args.dry_run
    suite = load_suite(args.suite, tracking_uri=args.tracking_uri, import_plugins=import_plugins)
    if args.device:
        suite = dataclasses.replace(suite, device=args.device)
    from benchmark.worker_processes import resolve_jobs, start_worker_server

    if not args.dry_run and resolve_jobs(args.jobs, args.threads, suite.device) > 1:
        start_worker_server()  # the workers' imports now, beside this process's own ('auto' device: as on CPU)
    from benchmark.runner import SuiteRunner
    from benchmark.summary import print_summary

    runner = SuiteRunner(suite, show_progress=not args.no_progress, force=args.force, threads=args.threads)
    if args.dry_run:
        for spec, action in runner.plan():
            print(f"{spec.name:<40} {action}")
        _print_unimported(suite)
        return 0
    outcomes = runner.run(args.jobs)
    print_summary(suite.name, outcomes, runner.problem.tasks, per_strategy=runner.report is None)
    if runner.report is not None:
        from benchmark.report import print_report

        print_report(runner.report)
    failed = any(o.status == "FAILED" for o in outcomes)
    return EXIT_RUN_FAILED if failed and not args.allow_failures else 0


def _search(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite

    suite = load_suite(args.suite, tracking_uri=args.tracking_uri)
    from benchmark.search import StudyRunner

    _at_least_one("--jobs", args.jobs)
    runner = StudyRunner(suite, args.storage, show_progress=not args.no_progress)
    results = runner.run(args.jobs)
    for result in results:
        best = ", ".join(f"#{t.number} {t.values}" for t in result.best) or "no complete trial"
        print(f"{result.study_name}: {result.trials} trials done; best: {best}")
    from benchmark.report import print_report, report_at_end

    report = report_at_end(runner.runner.tracker, suite.name)
    if report is not None:
        print_report(report)
    if args.export_suite:
        runner.export_suite(results[0], Path(args.export_suite))
        print(f"wrote {args.export_suite}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite
    from benchmark.search_workers import STORAGE_ENV, TRACKING_ENV, stop_when_stdin_closes

    if args.stop_with_parent:
        stop_when_stdin_closes()
    _at_least_one("--threads", args.threads)
    suite = load_suite(args.suite, tracking_uri=args.tracking_uri or os.environ.get(TRACKING_ENV))
    from benchmark.search import StudyRunner

    storage = args.storage or os.environ.get(STORAGE_ENV)
    StudyRunner(suite, storage, show_progress=not args.no_progress, threads=args.threads).work(args.study)
    return 0


def _check(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite
    from benchmark.plan import DEFAULT_THREADS, expand, resolve_device
    from benchmark.untrusted import redact

    suite = load_suite(args.suite, import_plugins=args.allow_plugins)
    device = resolve_device(suite.device) if suite.device == "auto" else suite.device  # 'cuda' even where absent
    specs = expand(suite, device, DEFAULT_THREADS)
    print(
        f"{args.suite}: valid; {len(specs)} run(s) on problem '{suite.problem}', tracked at {redact(suite.tracking_uri)}; "
        f"run keys for device {device}, {DEFAULT_THREADS} CPU thread(s)"
    )
    for spec in specs:
        print(f"  {spec.name}  run_key={spec.run_key}")
    _print_unimported(suite)
    return 0


def _print_unimported(suite) -> None:
    for reference in suite.unimported:
        print(f"  {reference}: found, not imported, options not checked (to check them: --allow-plugins)")


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
    page = f"http://{args.host}:{args.port}/#/experiments?workflowType=machine_learning"  # runs, not GenAI
    print(f"MLflow UI for {uri} at {page} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    os.execve(sys.executable, command, {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    return 0  # not reached


def _report(args: argparse.Namespace) -> int:
    from benchmark.config import check_tracking_uri, default_tracking_uri

    if bool(args.experiment) == bool(args.run_id):
        raise MimoBenchError(
            "name an experiment or give --run-id (one of the two), e.g. mimo-bench report glyphs-quick"
        )
    uri = args.tracking_uri or default_tracking_uri()
    check_tracking_uri(uri, "--tracking-uri")
    from benchmark.report import make_report, print_report
    from benchmark.tracking import Tracker

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


PERF_SECTIONS = ("loops", "strategies", "memory", "jobs", "gradient")


def _perf(args: argparse.Namespace) -> int:
    from benchmark.config import load_suite

    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in sections if name not in PERF_SECTIONS]
    if unknown or not sections:
        raise MimoBenchError(f"perf --only {args.only!r}: choose from {', '.join(PERF_SECTIONS)}, comma-separated")
    for option, value in (("--rounds", args.rounds), ("--steps", args.steps), ("--threads", args.threads)):
        _at_least_one(option, value, "perf ")
    if not 0 < args.fraction <= 1:
        raise MimoBenchError(f"perf --fraction must be in (0, 1], got {args.fraction}")
    suite = load_suite(args.suite)
    if args.device:
        suite = dataclasses.replace(suite, device=args.device)
    if args.search:
        return _perf_search(suite, args.search)
    import tempfile

    from benchmark.perf_report import measure
    from benchmark.runner import DEFAULT_THREADS, set_threads

    set_threads(args.threads or DEFAULT_THREADS)  # as every run trains

    with tempfile.TemporaryDirectory() as directory:
        for section in PERF_SECTIONS:
            if section in sections:
                folder = Path(directory) / section
                print(measure(section, suite, args.rounds, args.steps, args.fraction, folder), end="\n\n", flush=True)
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
    if argv is None:  # the real command: `kill` (SIGTERM) stops it like Ctrl-C, leaving the run resumable
        from benchmark.stopping import STOP

        STOP.install()  # taken at a safe point, never inside a store write
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
        if args.command == "report":
            return _report(args)
        if args.command in ("strategies", "problems"):
            return _list(args.command.upper())
        return _ui(args)
    except MimoBenchError as error:
        from benchmark.untrusted import redact

        print(f"mimo-bench: error: {redact(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mimo-bench: interrupted; the current run is marked KILLED", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stops Python's own complaint at exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
