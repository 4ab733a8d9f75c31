"""How the CLI shows things: diagnostics, plans, summaries. Part of the CLI layer, not the core."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.diagnostics import BackdropError, Diagnostic

if TYPE_CHECKING:
    from rich.console import Console

    from runner.plan.model import Plan

PLAN_ROWS_SHOWN = 200


def redact(text: str) -> str:
    """Belt and braces: the API key never reaches the terminal, whatever an error says."""
    key = os.environ.get("ONEMIN_API_KEY", "")
    return text.replace(key, "***") if len(key) >= 4 else text


def echo_err(text: str) -> None:
    click.echo(redact(text), err=True)


def show_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    for diag in diagnostics:
        echo_err(diag.render())
    errors = sum(1 for d in diagnostics if d.severity == "error")
    if errors > 1:
        echo_err(f"{errors} errors")


def show_error(err: BackdropError) -> None:
    show_diagnostics(err.diagnostics())


def shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def show_validation(results: Sequence[tuple[str, Plan | None, Sequence[Diagnostic]]]) -> None:
    for path, plan, diags in results:
        if diags:
            show_diagnostics(diags)
            echo_err(f"{path}: invalid")
        elif plan is not None:
            click.echo(
                f"{path}: ok ({_count(len(plan.jobs), 'job')}, {_count(plan.image_count, 'image')})"
            )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def show_plan(plan: Plan, *, show_all: bool) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=f"Plan for {plan.recipe_name}", title_justify="left", expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("job")
    table.add_column("prompt", max_width=48, overflow="ellipsis", no_wrap=True)
    table.add_column("output")
    table.add_column("key", style="dim")
    jobs = plan.jobs if show_all else plan.jobs[:PLAN_ROWS_SHOWN]
    for job in jobs:
        prompt = " ".join(job.prompt_object.prompt.split())
        outputs = job.outputs[0] + (f" (+{len(job.outputs) - 1})" if len(job.outputs) > 1 else "")
        table.add_row(
            str(job.index + 1), job.label or "(single job)", prompt, outputs, job.key[:12]
        )
    console.print(table, markup=False)
    if len(plan.jobs) > len(jobs):
        console.print(
            f"... and {len(plan.jobs) - len(jobs):,} more jobs (use --all to list them, "
            "or --json for the full plan)",
            markup=False,
        )
    show_totals(plan, console)


def show_totals(plan: Plan, console: Console | None = None) -> None:
    console = console or _console()
    cost = plan.cost()
    console.print(
        f"{_count(len(plan.jobs), 'job')}, {_count(plan.image_count, 'image')} to generate, "
        f"{_count(plan.upload_count, 'source image')} to upload",
        markup=False,
    )
    for (quality, size), (images, usd) in sorted(cost.by_kind.items()):
        console.print(f"  {images:>6,} x {quality:<6} {size:<9}  ${usd:,.2f}", markup=False)
    console.print(
        f"Estimated cost: ${cost.total_usd:,.2f} (an estimate from list prices per image, "
        "not a quote)",
        markup=False,
    )
    console.print(f"Output folder: {shown_path(plan.output_dir)}", markup=False)


def plan_to_json(plan: Plan) -> dict[str, Any]:
    cost = plan.cost()
    return {
        "recipe": {"name": plan.recipe_name, "path": str(plan.recipe_path)},
        "output_dir": str(plan.output_dir),
        "axes": list(plan.axes),
        "totals": {
            "jobs": len(plan.jobs),
            "images": plan.image_count,
            "uploads": plan.upload_count,
            "estimated_cost_usd": cost.total_usd,
        },
        "jobs": [job.to_json() for job in plan.jobs],
    }


def print_plan_json(plan: Plan) -> None:
    click.echo(json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False))


def show_init(written: Sequence[Path]) -> None:
    click.echo("Created:")
    for path in written:
        click.echo(f"  {shown_path(path)}")
    recipe = shown_path(written[0])
    click.echo(f"Next: backdrop plan {recipe}   then   backdrop run {recipe} --emulate")
