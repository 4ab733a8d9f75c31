"""`backdrop report OUTDIR...`: rebuild the reports from the state, or merge shards."""

from __future__ import annotations

from pathlib import Path

import click

from runner.commands.common import csv_separator_option
from runner.diagnostics import UsageError


@click.command()
@click.argument("outdirs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--merge",
    is_flag=True,
    help="Combine shard folders into one report, written into the first folder.",
)
@click.option("--open", "open_", is_flag=True, help="Open report.html in the default browser.")
@csv_separator_option
def report(outdirs: tuple[str, ...], merge: bool, open_: bool, csv_separator: str) -> None:
    """Rebuild the reports of an output folder from its state, without calling the API."""
    from runner.commands import terminal
    from runner.fileio import FolderRole, FolderWriteError
    from runner.records.state import StateStore
    from runner.report.context import CSV_SEPARATORS, ReportOptions
    from runner.report.lock_report import with_lock_generations
    from runner.report.merge import merge_snapshots, rebase_snapshot
    from runner.report.writer import write_reports

    folders = [Path(d) for d in outdirs]
    if len(folders) > 1 and not merge:
        raise UsageError(
            "several output folders given without --merge",
            hint="backdrop report --merge OUT1 OUT2 ... combines shards into OUT1's report",
        )
    into = folders[0]
    snapshot = (
        merge_snapshots(
            [
                rebase_snapshot(with_lock_generations(StateStore.read_snapshot(d), d), d, into)
                for d in folders
            ]
        )
        if merge
        else StateStore.read_snapshot(into)
    )
    options = ReportOptions(csv_separator=CSV_SEPARATORS[csv_separator])
    try:
        paths = write_reports(snapshot, into, merged=merge, options=options)
    except FolderWriteError as err:  # report has no -o: the hint must not offer one
        raise err.retold(
            FolderRole(
                "the output folder",
                "copy the folder to a writable disk and run backdrop report on the copy",
            )
        ) from None
    terminal.show_report_paths(paths)
    if open_:
        click.launch(str(paths.html))
