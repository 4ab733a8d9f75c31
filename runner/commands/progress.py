"""Run progress for people: a live rich display in a terminal, one plain line per job in CI.

Part of the CLI layer (it prints); the core only calls the RunEvents protocol.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import click

from runner.apikey import redact
from runner.execute.events import FinishStatus, NullEvents, RunTotals
from runner.printable import one_line, printable

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# A generation takes up to minutes: say how to leave at once, and what that costs.
STOPPING = (
    "stopping: no new jobs will start; the requests in flight finish and are saved"
    " (a generation can take minutes; Ctrl-C again stops at once, and what is still in flight"
    " may then be charged again)"
)
_MARKS = {"done": "ok", "skipped": "skip", "failed": "FAIL", "interrupted": "stop"}


def _credits(credits_left: int | None) -> str:
    return "" if credits_left is None else f"  credits left {credits_left:,}"


class PlainEvents(NullEvents):
    """One line per finished job: readable in CI logs, greppable, no control codes."""

    def __init__(self) -> None:
        self._jobs = 0
        self._finished = 0

    def __enter__(self) -> PlainEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run_started(self, run_id: str, jobs: int) -> None:
        self._jobs = jobs
        click.echo(f"run {run_id}: {jobs:,} job{'s' if jobs != 1 else ''} selected")

    def job_retrying(self, label: str, attempt: int, reason: str, delay: float) -> None:
        line = f"  retry  {one_line(label)}: {reason} (attempt {attempt}, in {delay:.1f} s)"
        click.echo(printable(redact(line)))

    def job_finished(
        self, label: str, status: FinishStatus, message: str | None, credits_left: int | None
    ) -> None:
        self._finished += 1
        width = len(str(self._jobs))
        line = f"[{self._finished:>{width}}/{self._jobs}] {_MARKS[status]:<4} "
        line += one_line(label or "(job)")
        if message:
            line += f": {message}"
        click.echo(printable(redact(line + _credits(credits_left))))

    def run_stopping(self, reason: str) -> None:
        # The reason itself is in the summary; saying it twice reads like two problems.
        click.echo(STOPPING, err=True)


class LiveEvents(NullEvents):
    """A live progress bar with done, skipped, failed and retrying counts, ETA and credits."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from runner.commands.streams import styled_stdout

        # Most important first: an 80-column terminal cuts the line from the right.
        self._progress: Progress = Progress(
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[credits]}"),
            transient=False,
            console=Console(file=styled_stdout()),
        )
        self._task: TaskID | None = None

    def __enter__(self) -> LiveEvents:
        self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def run_started(self, run_id: str, jobs: int) -> None:
        self._task = self._progress.add_task("running", total=jobs, counts="", credits="")

    def job_finished(
        self, label: str, status: FinishStatus, message: str | None, credits_left: int | None
    ) -> None:
        if status == "failed":
            self._progress.console.print(
                printable(redact(f"FAIL {one_line(label)}: {message or 'failed'}")),
                markup=False,
                highlight=False,
            )

    def run_stopping(self, reason: str) -> None:
        self._progress.console.print(STOPPING, markup=False)

    def run_totals(self, totals: RunTotals) -> None:
        if self._task is None:
            return
        counts = (
            f"{totals.done} done, {totals.skipped} skipped, {totals.failed} failed,"
            f" {totals.retrying} retrying"
        )
        self._progress.update(
            self._task,
            completed=totals.done + totals.skipped + totals.failed,
            counts=counts,
            credits=_credits(totals.credits_left).strip().replace("credits left", "credits"),
        )
