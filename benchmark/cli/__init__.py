"""The command line: one module per command, a thin layer over every other package; nothing imports it."""

from benchmark.cli.main import main

__all__ = ["main"]
