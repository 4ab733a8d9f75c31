"""`backdrop plan`: the plan, or with --diff what a run would change, in text/JSON/Markdown.

--detailed-exitcode works as terraform's: 0 for an empty diff, 2 for any difference (new,
changed, download-only or stale), 1 for any error. The command records whether the diff is
empty; `detailed_exit_code` turns the process's ordinary exit into that code (see runner/cli.py
main).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.commands.common import PlanInputs, load_plan, plan_options
from runner.diagnostics import EXIT_OK

if TYPE_CHECKING:
    from runner.plan.plan_model import Plan

EXIT_CHANGES = 2  # --detailed-exitcode: the diff is not empty
EXIT_ERROR = 1  # --detailed-exitcode: anything went wrong, bad usage included
_changes_found: list[bool] = []  # set by the command (diff not empty), read by detailed_exit_code


@click.command()
@click.argument("recipe", type=click.Path())
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the full plan as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every job, however many.")
@click.option(
    "--diff",
    is_flag=True,
    help="Compare with the output folder (state, else backdrop.lock): new, changed, up to "
    "date, paid but not downloaded, and stale files, with the cost of the change.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    help="json: machine-readable (schemas/plan-diff.schema.json with --diff); markdown: a "
    "pull-request comment of the diff; github: text plus GitHub Actions annotations.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when the diff is empty, 2 when it is not (jobs new or changed, images to "
    "download, stale files), 1 on any error (an invalid recipe or bad usage included), as "
    "terraform plan does.",
)
def plan(
    recipe: str,
    inputs: PlanInputs,
    as_json: bool,
    show_all: bool,
    diff: bool,
    fmt: str,
    detailed_exitcode: bool,
) -> None:
    """Show the jobs a recipe expands to, their outputs and an estimated cost."""
    show_plan(
        current_takes(load_plan(recipe, inputs)),
        recipe,
        fmt=fmt,
        diff=diff,
        as_json=as_json,
        show_all=show_all,
        detailed=detailed_exitcode,
    )


def show_plan(
    plan: Plan,
    recipe: str,
    *,
    fmt: str,
    diff: bool,
    as_json: bool,
    show_all: bool,
    detailed: bool = False,
) -> None:
    """Print what the options ask for; remember whether the diff is empty."""
    from runner.commands import github, terminal
    from runner.execute.budget import plan_budget_status
    from runner.execute.previous import read_previous
    from runner.plan.diff import diff_plan
    from runner.plan.diff_output import (
        diff_json_chunks,
        diff_markdown,
        diff_text,
        summary_line,
    )
    from runner.review.decisions import load_review
    from runner.review.replaced import replaced_in_diff

    full_json = (as_json or fmt == "json") and not diff
    if full_json and not detailed:  # the whole plan, as before: no need to read the folder
        terminal.print_plan_json(plan)
        return
    from runner.execute.adopt import LockFiles

    files = LockFiles(plan.output_dir)  # each image checked once, for the diff and the budget
    previous = read_previous(plan.output_dir, plan, files)
    plan_diff = replaced_in_diff(
        plan, diff_plan(plan, previous), load_review(plan.output_dir), previous
    )
    _changes_found.append(not plan_diff.totals.empty)
    if diff or fmt == "markdown":
        if fmt == "json":
            terminal.write_json_chunks(diff_json_chunks(plan, plan_diff, recipe=_shown(recipe)))
        elif fmt == "markdown":
            terminal.echo(diff_markdown(plan, plan_diff, recipe=_shown(recipe)), nl=False)
        else:
            terminal.echo(diff_text(plan_diff, show_all=show_all))
        github.append_summary(diff_markdown(plan, plan_diff, recipe=_shown(recipe)))
        return
    if full_json:
        terminal.print_plan_json(plan)
        return
    compared = summary_line(plan_diff) if plan_diff.source != "none" else None
    terminal.show_plan(plan, show_all=show_all, compared=compared)
    terminal.show_budget(plan_budget_status(plan, files), planned=True)


def current_takes(plan: Plan) -> Plan:
    """The plan with each job at its take from review.yaml (as `run` will see it)."""
    from runner.review.decisions import load_review
    from runner.review.retakes import plan_takes

    review = load_review(plan.output_dir)
    return plan_takes(plan, review).plan if review.decisions else plan


def detailed_exit_code(run: Callable[[], None]) -> int:
    """Run the CLI and map its exit to 0 (empty diff), 2 (a difference) or 1 (error)."""
    _changes_found.clear()
    try:
        run()
        code: object = EXIT_OK
    except SystemExit as exit_:
        code = exit_.code
    if code not in (0, None):
        return EXIT_ERROR
    return EXIT_CHANGES if any(_changes_found) else EXIT_OK


def _shown(recipe: str) -> str:
    """The recipe as the reader knows it: relative, with forward slashes, never absolute."""
    path = Path(recipe)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            path = Path(path.name)
    return path.as_posix()
