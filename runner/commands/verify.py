"""`backdrop verify OUTDIR|RECIPE`: the images on disk against backdrop.lock."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from runner.commands.common import load_plan
from runner.diagnostics import EXIT_JOBS_FAILED, EXIT_OK, UsageError


@click.command()
@click.argument("outdir", metavar="OUTDIR|RECIPE", type=click.Path())
def verify(outdir: str) -> None:
    """Check the images in OUTDIR (or a recipe's output folder) against backdrop.lock."""
    from runner import terminal
    from runner.commands.github_output import report_verify
    from runner.commands.review import show_orphans
    from runner.report import verify_outputs
    from runner.review.orphans import orphaned_decisions

    folder = _verify_folder(outdir)
    result = verify_outputs(folder)
    terminal.show_verify(result)
    show_orphans(orphaned_decisions(folder))
    report_verify(str(folder), result)
    sys.exit(EXIT_OK if result.ok else EXIT_JOBS_FAILED)


def _verify_folder(target: str) -> Path:
    """An output folder as given, or the one a recipe writes to (planned, nothing spent)."""
    path = Path(target)
    if not os.path.exists(path):
        what = "recipe" if path.suffix.lower() in (".yaml", ".yml") else "folder"
        raise UsageError(
            f"the {what} {target} does not exist",
            hint="pass the output folder of a run (the one with backdrop.lock), e.g. backdrop "
            "verify out/spring-campaign, or its recipe: backdrop verify spring-campaign.yaml",
        )
    if path.is_dir():
        return path
    if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
        what = "a file" if path.is_file() else "a device, a pipe or a socket"
        raise UsageError(
            f"{target!r} is {what}, neither an output folder nor a recipe",
            hint="pass the folder with backdrop.lock, e.g. backdrop verify out/spring-campaign, "
            "or the recipe: backdrop verify spring-campaign.yaml",
        )
    return load_plan(target).output_dir
