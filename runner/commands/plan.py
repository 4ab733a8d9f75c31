"""`backdrop plan`: the plan, or with --diff what a run would change, in text/JSON/Markdown.

--detailed-exitcode works as terraform's: 0 nothing to generate, 2 something to generate, 1
any error. The command records whether something would be generated; `detailed_exit_code`
turns the process's ordinary exit into that code (see runner/cli.py main).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from runner import github
from runner.diagnostics import EXIT_OK
from runner.plan.model import Plan

EXIT_CHANGES = 2  # --detailed-exitcode: a run would generate something
EXIT_ERROR = 1  # --detailed-exitcode: anything went wrong, bad usage included
_changes_found: list[bool] = []  # set by the command, read by detailed_exit_code


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
    """Print what the options ask for; remember whether a run would generate anything."""
    from runner import terminal
    from runner.execute.previous import read_previous
    from runner.plan.diff import diff_plan
    from runner.plan.diff_output import (
        diff_json_chunks,
        diff_markdown,
        diff_text,
        summary_line,
    )

    full_json = (as_json or fmt == "json") and not diff
    if full_json and not detailed:  # the whole plan, as before: no need to read the folder
        terminal.print_plan_json(plan)
        return
    plan_diff = diff_plan(plan, read_previous(plan.output_dir))
    _changes_found.append(plan_diff.totals.to_generate > 0)
    if diff or fmt == "markdown":
        if fmt == "json":
            _write(diff_json_chunks(plan, plan_diff, recipe=_shown(recipe)))
        elif fmt == "markdown":
            click.echo(diff_markdown(plan, plan_diff, recipe=_shown(recipe)), nl=False)
        else:
            click.echo(diff_text(plan_diff, show_all=show_all))
        github.append_summary(diff_markdown(plan, plan_diff, recipe=_shown(recipe)))
        return
    if full_json:
        terminal.print_plan_json(plan)
        return
    compared = summary_line(plan_diff) if plan_diff.source != "none" else None
    terminal.show_plan(plan, show_all=show_all, compared=compared)


def detailed_exit_code(run: Callable[[], None]) -> int:
    """Run the CLI and map its exit to 0 (nothing to generate), 2 (changes) or 1 (error)."""
    _changes_found.clear()
    try:
        run()
        code: object = EXIT_OK
    except SystemExit as exit_:
        code = exit_.code
    if code not in (0, None):
        return EXIT_ERROR
    return EXIT_CHANGES if any(_changes_found) else EXIT_OK


def _write(chunks: Iterable[str]) -> None:
    out = sys.stdout
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def _shown(recipe: str) -> str:
    """The recipe as the reader knows it: relative, with forward slashes, never absolute."""
    path = Path(recipe)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            path = Path(path.name)
    return path.as_posix()
