"""Terminal output: a progress bar per run with live per-task losses, and the summary table.

Text from users and plugins (labels, failure reasons) is never read as rich markup: `log` prints a
plain string literally, and `benchmark.report.page.summary_table` escapes every cell; styled lines are `rich.text.Text`.
"""

from __future__ import annotations

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

REFRESH_EVERY = 10  # batches between loss read-outs, so the bar does not wait on every step

Line = str | Text  # a log line: plain text, or text with its own styles (never markup)


def failure_line(name: str, reason: str) -> Text:
    """'FAILED <run>: <reason>', the word in red."""
    return Text.assemble(("FAILED", "red"), f" {name}: {reason}")


class SuiteProgress:
    """One bar for the suite and one for the current run (epochs x batches, live losses)."""

    def __init__(self, total_runs: int, console: Console | None = None, enabled: bool = True):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            disable=not enabled,
        )
        self.suite_bar = self.progress.add_task("suite", total=total_runs, status="")
        self.run_bar = None

    def __enter__(self) -> SuiteProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def start_run(self, label: str, epochs: int, batches_per_epoch: int, done_epochs: int = 0) -> None:
        if self.run_bar is not None:
            self.progress.remove_task(self.run_bar)
        self.batches = batches_per_epoch
        self.epochs = epochs
        total = epochs * batches_per_epoch
        self.run_bar = self.progress.add_task(label, total=total, completed=done_epochs * batches_per_epoch, status="")

    def batch(self, epoch: int, batch_index: int, losses: dict[str, torch.Tensor]) -> None:
        done = (epoch - 1) * self.batches + batch_index + 1
        if batch_index % REFRESH_EVERY == 0:
            shown = "  ".join(f"{name} {float(loss):.3g}" for name, loss in losses.items())
            self.progress.update(self.run_bar, completed=done, status=f"ep {epoch}/{self.epochs}  {shown}")
        else:
            self.progress.update(self.run_bar, completed=done)

    def end_run(self) -> None:
        self.progress.advance(self.suite_bar)

    def log(self, message: Line) -> None:
        """Print a line above the bars, as it is (a plain string is not read as markup)."""
        self.progress.console.print(message, markup=False)
