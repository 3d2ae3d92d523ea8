"""`mimo-bench check`: validate a suite file and list its runs without training or importing its plugins."""

from __future__ import annotations

import argparse


def command(args: argparse.Namespace) -> int:
    from benchmark.suite.plan import DEFAULT_THREADS, expand, resolve_device
    from benchmark.suite.schema import load_suite
    from benchmark.tracking.untrusted import redact

    suite = load_suite(args.suite, import_plugins=args.allow_plugins)
    device = resolve_device(suite.device) if suite.device == "auto" else suite.device  # 'cuda' even where absent
    specs = expand(suite, device, DEFAULT_THREADS)
    print(
        f"{args.suite}: valid; {len(specs)} run(s) on problem '{suite.problem}', tracked at {redact(suite.tracking_uri)}; "
        f"run keys for device {device}, {DEFAULT_THREADS} CPU thread(s)"
    )
    for spec in specs:
        print(f"  {spec.name}  run_key={spec.run_key}")
    print_unimported(suite)
    return 0


def print_unimported(suite) -> None:
    for reference in suite.unimported:
        print(f"  {reference}: found, not imported, options not checked (to check them: --allow-plugins)")
