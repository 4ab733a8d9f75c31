"""`backdrop schema`: the recipe JSON Schema, for editors."""

from __future__ import annotations

import click


@click.command()
def schema() -> None:
    """Print the recipe JSON Schema (Draft 2020-12)."""
    from runner.commands import terminal
    from runner.recipe.schema_check import schema_text

    terminal.echo(schema_text(), nl=False)
