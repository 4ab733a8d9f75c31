"""`backdrop verify OUTDIR|RECIPE`: the images on disk against backdrop.lock."""

from __future__ import annotations

import sys

import click

from runner.commands.common import output_folder
from runner.diagnostics import EXIT_JOBS_FAILED, EXIT_OK


@click.command()
@click.argument("outdir", metavar="OUTDIR|RECIPE", type=click.Path())
def verify(outdir: str) -> None:
    """Check the images in OUTDIR (or a recipe's output folder) against backdrop.lock."""
    from runner.commands import terminal
    from runner.commands.github_output import report_verify
    from runner.records.lock_reader import verify_outputs
    from runner.review.orphans import orphaned_decisions

    folder = output_folder(outdir, "verify")
    result = verify_outputs(folder)
    terminal.show_verify(result)
    # The files' verdict reaches the job summary before review.yaml is read: a review.yaml
    # that cannot be read (exit 2) must not hide what verify found.
    report_verify(str(folder), result)
    terminal.show_orphans(orphaned_decisions(folder))
    sys.exit(EXIT_OK if result.ok else EXIT_JOBS_FAILED)
