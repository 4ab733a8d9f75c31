"""`backdrop init [DIRECTORY]`: a starter project to copy from."""

from __future__ import annotations

from pathlib import Path

import click

from runner.diagnostics import UsageError


@click.command()
@click.argument("directory", default=".", type=click.Path())
def init(directory: str) -> None:
    """Create a starter recipe, its schema, an example image and a CSV in DIRECTORY."""
    from runner.commands import terminal
    from runner.fileio import not_a_folder
    from runner.scaffold import init_project

    blocker = not_a_folder(Path(directory))
    if blocker is not None:
        path, what = blocker
        where = (
            f"it is {what}, not a folder"
            if path == Path(directory)
            else f"it lies under {path}, which is {what}"
        )
        raise UsageError(
            f"cannot create the project in {directory}: {where}",
            hint="give a new or empty folder, e.g. backdrop init my-campaign",
        )
    try:
        written = init_project(Path(directory))
    except OSError as err:
        raise UsageError(
            f"cannot create the project in {directory}: {err.strerror or err}",
            hint="choose a folder you can write to, e.g. backdrop init my-campaign",
        ) from None
    terminal.show_init(written)
