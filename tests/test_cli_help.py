"""`backdrop --help` shows the workflow: commands grouped, in the order people use them."""

from __future__ import annotations

import click
import pytest

from runner.cli import cli
from runner.commands.workflow import OTHER_SECTION, WORKFLOW, WorkflowGroup
from tests.clihelp import run_cli


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading, command names) of each section after the options."""
    out: list[tuple[str, list[str]]] = []
    inside = False
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":") and line != "Options:":
            out.append((line[:-1], []))
            inside = True
        elif not line.strip():
            inside = False
        elif inside:
            out[-1][1].append(line.split()[0])
    return out


def test_the_commands_are_listed_in_the_order_people_use_them(capsys):
    result = run_cli(capsys, "--help")
    assert result.code == 0
    sections = _sections(result.out)
    assert sections == [
        ("Start", ["init", "validate", "plan"]),
        ("Make", ["run"]),
        ("Decide", ["review", "status"]),
        ("Deliver", ["export"]),
        ("Check", ["verify", "report"]),
        ("Tools", ["schema", "emulator"]),
    ]


def test_each_command_has_one_whole_line_that_says_when_to_use_it(capsys):
    out = run_cli(capsys, "--help").out
    lines = out.splitlines()
    for _, entries in WORKFLOW:
        for name, when in entries:
            if name not in cli.commands:
                continue
            [line] = [line for line in lines if line.split()[:1] == [name]]
            assert line.rstrip().endswith(f"  {when}"), line  # the whole sentence, on its line
            assert not line.rstrip().endswith("...")
    assert max(len(line) for line in lines) <= 80


def test_every_registered_command_has_its_place_in_the_workflow():
    listed = {name for _, entries in WORKFLOW for name, _ in entries}
    assert set(cli.commands) <= listed


def _group_with(*names: str) -> WorkflowGroup:
    group = WorkflowGroup(name="backdrop")
    for name in names:
        group.add_command(click.Command(name, help=f"The {name} command.", callback=lambda: None))
    return group


def _help_of(group: click.Group) -> str:
    with click.Context(group, info_name="backdrop") as ctx:
        return group.get_help(ctx)


def test_a_new_command_is_one_entry_and_shows_only_once_registered():
    without = _sections(_help_of(_group_with("review", "export")))
    assert without == [("Decide", ["review"]), ("Deliver", ["export"])]
    with_status = _sections(_help_of(_group_with("review", "status", "export")))
    assert with_status == [("Decide", ["review", "status"]), ("Deliver", ["export"])]
    status_line = dict(WORKFLOW)["Decide"][1][1]
    assert status_line in _help_of(_group_with("status"))


def test_a_command_missing_from_the_table_is_still_shown_last():
    sections = _sections(_help_of(_group_with("run", "zebra")))
    assert sections == [("Make", ["run"]), (OTHER_SECTION, ["zebra"])]
    assert "The zebra command." in _help_of(_group_with("zebra"))


def test_review_help_says_review_yaml_can_be_edited_by_hand(capsys):
    out = " ".join(run_cli(capsys, "review", "--help").out.split())
    assert "Edit OUTDIR/review.yaml by hand instead" in out
    assert "status: approved" in out and "pick: 2" in out


def test_export_help_says_where_channels_come_from_and_that_n_above_1_needs_a_pick(capsys):
    out = " ".join(run_cli(capsys, "export", "--help").out.split())
    assert "The channels (instagram: 1080x1350, ...) come from the recipe's `channels:`" in out
    assert "(n > 1), an approved job needs a pick" in out
