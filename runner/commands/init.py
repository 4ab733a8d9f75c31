"""`backdrop init [DIRECTORY]`: a starter project to copy from."""

from __future__ import annotations

from pathlib import Path

import click

from runner.diagnostics import UsageError


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create a starter recipe, its schema, an example image and a CSV in DIRECTORY."""
    from runner import terminal
    from runner.scaffold import init_project

    try:
        written = init_project(Path(directory))
    except OSError as err:
        raise UsageError(
            f"cannot create the project in {directory}: {err.strerror or err}",
            hint="choose a folder you can write to, e.g. backdrop init my-campaign",
        ) from None
    terminal.show_init(written)
