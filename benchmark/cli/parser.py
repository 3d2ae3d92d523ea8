"""The `mimo-bench` argument parser, its exit statuses and the checks every count option shares."""

from __future__ import annotations

import argparse

from benchmark import __version__
from benchmark.api.errors import MimoBenchError

EXIT_USAGE = 2

EXIT_RUN_FAILED = 1

EXIT_INTERRUPTED = 130

ALLOW_PLUGINS_HELP = (
    "import the module:attr plugins the suite names, to check their options (default: a suite file is data; "
    "their modules are only located, never run)"
)

QUEUE_HELP = (
    "Optuna storage of the suite's work queue, which hands each run to exactly one process: journal:PATH (default: "
    "$MIMO_BENCH_STORAGE, else optuna.journal beside a local store, one machine) or postgresql://... (several "
    "machines, with `mimo-bench worker`)"
)


class Parser(argparse.ArgumentParser):
    """argparse with the project's one-line error format (status 2)."""

    def error(self, message: str) -> None:
        self.exit(EXIT_USAGE, f"mimo-bench: error: {message} (see '{self.prog} --help')\n")


def parser() -> argparse.ArgumentParser:
    parser = Parser(
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
        type=jobs_option,
        default=1,
        metavar="K|auto",
        help="train this many runs at once, each in its own worker process (default 1: in this process); 'auto': "
        "one per usable CPU core (divided by --threads) on CPU, one per visible GPU on CUDA",
    )
    run.add_argument(
        "--threads",
        type=int,
        help="CPU threads per run (default 1: the same numbers whatever --jobs and machine; more threads change "
        "the last bits); use --jobs to fill the cores",
    )
    run.add_argument("--storage", help=QUEUE_HELP)
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="where the runs train: here and in --jobs workers (default), or as tasks on a Ray cluster (--address)",
    )
    run.add_argument(
        "--address",
        default="auto",
        help="the Ray cluster of --executor ray (default 'auto': the one started on this machine with `ray start`)",
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
        help="one more worker on a suite's runs, or on its search studies (on this or another machine)",
        description="Train the runs of a suite that other workers have not taken, through its work queue; or, for a "
        "suite with a [search] table, join its Optuna studies and run trials until their budgets are met. On "
        "several machines, point every worker at one RDB storage (--storage postgresql://...) and one tracking "
        "server (--tracking-uri http://...). A worker makes no report: `mimo-bench report` does.",
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
    worker.add_argument("--threads", type=int, help="CPU threads per run or trial (default 1, as for run)")
    worker.add_argument(
        "--jobs",
        type=jobs_option,
        default=1,
        metavar="K|auto",
        help="a suite's runs: train this many at once (as for run; 'auto' on CUDA: one per GPU)",
    )
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
        help="strategy label that Δm%% and the tests compare against (default: the strategy declaring "
        "baseline = True, sum; or the single-task reference's label)",
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


def jobs_option(value: str) -> int | None:
    """``--jobs``: a count, or 'auto' (None: `benchmark.worker_processes.resolve_jobs` decides)."""
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {value!r}") from None


def at_least_one(option: str, value: int | None, command: str = "") -> None:
    """A count option (``--jobs``, ``--threads``, ...) below 1 is a usage error; None means its default."""
    if value is not None and value < 1:
        raise MimoBenchError(f"{command}{option} must be at least 1, got {value}")
