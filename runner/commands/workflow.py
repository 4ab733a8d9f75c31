"""`backdrop --help`: the commands in the order people use them, grouped, one line each.

The table is data: a new command is one entry, shown once a module registers it with the group.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

# (section, ((command, when to use it), ...)). Each line fits 80 columns beside its name.
WORKFLOW: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Start",
        (
            ("init", "Start a campaign folder: a recipe, a CSV and an image to copy"),
            ("validate", "Check recipes for mistakes; nothing is sent or spent"),
            ("plan", "See every job, its output file and the estimated cost"),
        ),
    ),
    ("Make", (("run", "Generate the images (--emulate rehearses it offline, free)"),)),
    (
        "Decide",
        (
            ("review", "Approve, reject or pick the images on a local page"),
            ("status", "See where a campaign stands and what to run next"),
        ),
    ),
    ("Deliver", (("export", "Copy the approved images, sized per channel, to a folder"),)),
    (
        "Check",
        (
            ("verify", "Check the files against backdrop.lock (after a pull, in CI)"),
            ("report", "Rebuild a run's contact sheet, CSV and JSON from its state"),
        ),
    ),
    (
        "Tools",
        (
            ("schema", "Print the recipe JSON Schema, for editors and tools"),
            ("emulator", "Serve the local 1min.ai emulator for rehearsals and tests"),
        ),
    ),
)
OTHER_SECTION = "Other"


def workflow_sections(registered: Sequence[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The sections with the registered commands only; unlisted ones come last, under Other."""
    known = {name for _, entries in WORKFLOW for name, _ in entries}
    sections = [
        (title, [(name, line) for name, line in entries if name in registered])
        for title, entries in WORKFLOW
    ]
    others = sorted(name for name in registered if name not in known)
    sections.append((OTHER_SECTION, [(name, "") for name in others]))
    return [(title, rows) for title, rows in sections if rows]


class WorkflowGroup(click.Group):
    """A click group whose --help lists the commands by WORKFLOW, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        visible = [name for name, command in self.commands.items() if not command.hidden]
        return [name for _, rows in workflow_sections(visible) for name, _ in rows]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        visible = [name for name, command in self.commands.items() if not command.hidden]
        sections = workflow_sections(visible)
        # One column for every section, so that the lines read as one list.
        width = max((len(name) for _, rows in sections for name, _ in rows), default=0)
        for title, rows in sections:
            shown = [
                (name.ljust(width), line or self.commands[name].get_short_help_str(limit=60))
                for name, line in rows
            ]
            with formatter.section(title):
                formatter.write_dl(shown, col_spacing=2)
