"""`backdrop status RECIPE|OUTDIR`: where a campaign stands, and the commands to run next."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.commands.common import PlanInputs, plan_options
from runner.diagnostics import EXIT_OK, UsageError

if TYPE_CHECKING:
    from runner.status.standing import CampaignStatus


@click.command()
@click.argument("target", metavar="RECIPE|OUTDIR", type=click.Path())
@plan_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="json: the counts and the next commands for tools (schemas/status.schema.json).",
)
def status(target: str, inputs: PlanInputs, fmt: str) -> None:
    """See where a campaign stands and what to run next: jobs generated, failed and not run;
    approved, rejected and pending; exported; spent against the budget.

    Give the recipe, or the output folder (its recipe is found from its last run). It only
    reads: nothing is sent, spent or written, and a running `run` is not waited for.
    """
    from runner.commands import terminal
    from runner.status.text import status_lines

    with _collector_paused():
        result = _status(target, inputs)
    if fmt == "json":
        terminal.echo_json(result.to_json())
    else:
        for line in status_lines(result):
            terminal.echo(line)
    sys.exit(EXIT_OK)


def _status(target: str, inputs: PlanInputs) -> CampaignStatus:
    from runner.commands.common import load_plan, output_folder
    from runner.status.campaign import campaign_status, recipe_of

    path = Path(target)
    gone: str | None = None
    found = refused = False
    if path.is_dir():
        if inputs.output_dir is not None:
            raise UsageError(
                "--output-dir goes with a recipe, not with an output folder",
                hint=f"give the recipe and -o {inputs.output_dir}, or the folder alone",
            )
        output_dir = path
        allowed = [Path(folder) for folder in inputs.allow_outside]
        recipe, gone, refused = recipe_of(path, allowed)
        found = recipe is not None
        plan = None
        if recipe is not None:
            plan = load_plan(str(recipe), dataclasses.replace(inputs, output_dir=str(path)))
    elif path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        recipe = path
        plan = load_plan(target, inputs)
        output_dir = plan.output_dir
    else:
        output_folder(target, "status")  # says what is wrong with it
        raise UsageError(f"{target!r} is neither a recipe nor an output folder")
    elsewhere = _elsewhere(recipe, output_dir) if found else False
    return campaign_status(
        output_dir,
        plan,
        recipe_found=found,
        recipe_gone=gone,
        recipe_refused=refused,
        run_options=_run_options(inputs, output_dir, elsewhere),
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A short read-only command that makes many objects and no cycles to speak of: the
    garbage collector's passes over them cost a sixth of its time on 5,000 jobs, for nothing
    (the YAML loader pauses it too, runner/recipe/loader.py)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _elsewhere(recipe: Path | None, output_dir: Path) -> bool:
    """Is output_dir another folder than the recipe's own (a run with -o)?"""
    from runner.plan.planner import output_folder
    from runner.recipe.build import load_recipe

    if recipe is None:
        return False
    default = output_folder(load_recipe(recipe))
    return os.path.normcase(default) != os.path.normcase(output_dir.absolute())


def _run_options(inputs: PlanInputs, output_dir: Path, elsewhere: bool) -> list[str]:
    """What `backdrop run RECIPE` needs beside the recipe to plan as this status did."""
    from runner.diagnostics import display_path
    from runner.shellwords import path_argument

    options: list[str] = []
    if elsewhere or inputs.output_dir is not None:
        options += ["-o", path_argument(display_path(output_dir))]
    for folder in inputs.allow_outside:
        options += ["--allow-outside", path_argument(display_path(Path(folder)))]
    if inputs.max_jobs is not None:
        options += ["--max-jobs", str(inputs.max_jobs)]
    for price in inputs.prices:
        options += ["--price", price]
    return options
