"""`backdrop validate RECIPE...`: check recipes without spending anything."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from runner.commands.common import PlanInputs, allow_outside_option, load_plan
from runner.diagnostics import EXIT_OK, EXIT_USAGE, BackdropError

if TYPE_CHECKING:
    from runner.plan.plan_model import Plan


@click.command()
@click.argument("recipes", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    help="json prints machine-readable diagnostics for CI; github adds GitHub Actions "
    "annotations (also when GITHUB_ACTIONS=true).",
)
@allow_outside_option
def validate(recipes: tuple[str, ...], fmt: str, allow_outside: tuple[str, ...]) -> None:
    """Check recipes (schema, templates, images, API limits) without spending anything."""
    from runner.commands import terminal
    from runner.commands.github_output import annotate_diagnostics

    results: list[tuple[str, Plan | None, list[Any]]] = []
    for path in recipes:
        try:
            plan = load_plan(path, PlanInputs(allow_outside=allow_outside), show_warnings=False)
            results.append((path, plan, list(plan.warnings)))
        except BackdropError as err:
            results.append((path, None, list(err.diagnostics())))
    failed = any(plan is None for _, plan, _ in results)
    if fmt == "json":
        payload = [
            {
                "recipe": path,
                "valid": plan is not None,
                "jobs": len(plan.jobs) if plan else None,
                "diagnostics": [d.to_json() for d in diags],
            }
            for path, plan, diags in results
        ]
        terminal.echo_json(payload)
    else:
        terminal.show_validation(results)
    annotate_diagnostics(fmt, [d for _, _, diags in results for d in diags])
    sys.exit(EXIT_USAGE if failed else EXIT_OK)
