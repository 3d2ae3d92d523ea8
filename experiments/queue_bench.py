"""The work queue measured (a measurement script only; figures in BENCHMARKS.md).

``claims``: how many units per second the queue hands out when N processes take and finish units as fast as
they can (each unit: take = pop + owner + heartbeat, then done), on a fresh PostgreSQL database per N: the
queue's ceiling, which says how many workers it can serve for a given run length.
``suite``: runs per minute of a suite of short runs with 1, 2 and 3 `mimo-bench worker` processes sharing
one queue on PostgreSQL and one SQLite store, interleaved over rounds, as ratios to 1 worker.

    python experiments/queue_bench.py claims --processes 1 4 16 32 --units 400
    python experiments/queue_bench.py suite --workers 1 2 3 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
COMMAND = str(Path(sys.executable).parent / "mimo-bench")

TAKER = """
import sys, time
from benchmark.queue.work import WorkQueue
queue = WorkQueue(sys.argv[1], "bench")
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
count, start = 0, time.perf_counter()
while (unit := queue.take()) is not None:
    queue.done(unit, True)
    count += 1
print(count, time.perf_counter() - start, flush=True)
"""

SUITE = """name = "queue-bench"
epochs = 2
batch_size = 64
seeds = [0, 1, 2, 3]

[problem]
name = "tabular"
samples = 600
dim_a = 8
dim_b = 4

[[strategies]]
name = "sum"

[[strategies]]
name = "normalized"

[[strategies]]
name = "dwa"
"""


def database() -> str:
    name = f"mimo_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return name


def drop(name: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def claims(processes: list[int], units: int) -> None:
    from benchmark.queue.work import WorkQueue

    print("| processes | units | seconds | units/s | ms per unit per process |\n|---|---|---|---|---|")
    for count in processes:
        name = database()
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        try:
            WorkQueue(url, "bench").add({"key": f"u{i}"} for i in range(units))
            pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
            takers = [subprocess.Popen([sys.executable, "-c", TAKER, url], **pipes) for _ in range(count)]
            for taker in takers:
                assert taker.stdout.readline().strip() == "ready"
            start = time.perf_counter()
            for taker in takers:
                taker.stdin.write("go\n")
                taker.stdin.flush()
            results = [taker.communicate()[0].split() for taker in takers]
            wall = time.perf_counter() - start
            done = sum(int(r[0]) for r in results)
            assert done == units, (done, units)
            print(f"| {count} | {done} | {wall:.1f} | {done / wall:.1f} | {1000 * wall * count / done:.0f} |")
        finally:
            drop(name)


def suite_round(workers: int, folder: Path) -> float:
    """Seconds for `workers` workers to train the suite into a fresh store and queue."""
    name = database()
    store = folder / f"{uuid.uuid4().hex[:8]}.db"
    env = {**os.environ, "MIMO_BENCH_STORAGE": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    command = [COMMAND, "worker", str(folder / "suite.toml"), "--tracking-uri", f"sqlite:///{store}", "--no-progress"]
    from mlflow import MlflowClient

    MlflowClient(f"sqlite:///{store}").search_experiments()  # the store's schema first: not a race of the workers
    try:
        start = time.perf_counter()
        running = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(workers)]
        assert all(p.wait() == 0 for p in running)
        return time.perf_counter() - start
    finally:
        drop(name)


def suite(workers: list[int], rounds: int) -> None:
    runs = 12
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "suite.toml").write_text(SUITE)
        suite_round(1, Path(folder))  # the dataset cache and the first-import costs
        seconds: dict[int, list[float]] = {w: [] for w in workers}
        for _ in range(rounds):
            for count in workers:  # interleaved
                seconds[count].append(suite_round(count, Path(folder)))
    base = statistics.median(seconds[workers[0]])
    print("| workers | runs/min (median) | ratio to 1 worker | per-round seconds |\n|---|---|---|---|")
    for count in workers:
        median = statistics.median(seconds[count])
        print(
            f"| {count} | {60 * runs / median:.1f} | {base / median:.2f} | {json.dumps([round(s, 1) for s in seconds[count]])} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="what", required=True)
    claim = commands.add_parser("claims")
    claim.add_argument("--processes", type=int, nargs="+", default=[1, 4, 16, 32])
    claim.add_argument("--units", type=int, default=400)
    runs = commands.add_parser("suite")
    runs.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    runs.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    claims(args.processes, args.units) if args.what == "claims" else suite(args.workers, args.rounds)


if __name__ == "__main__":
    main()
