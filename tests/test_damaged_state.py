"""A damaged .backdrop/state.db (a disk, a hand, a pull request) is said as such: exit 3, which
file, and what to do without losing the record of what was paid for; never exit 70."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from runner.records.state import STATE_FILE
from runner.records.state_folder import STATE_DIR
from tests.clihelp import run_cli
from tests.deliverhelp import write_campaign

RECIPE = "campaign/recipe.yaml"
OUT = Path("campaign") / "out" / "deliver-test"
STATE = OUT / STATE_DIR / STATE_FILE
LONG = "9" * 5000  # past Python's 4,300 digits for int()
COMMANDS = {
    "plan": ("plan", RECIPE),  # compares with the folder and previews the budget
    "plan --diff": ("plan", RECIPE, "--diff"),
    "report": ("report", str(OUT)),
    "run": ("run", RECIPE, "--emulate", "-y"),
    "status": ("status", RECIPE),  # the state, the spend and the sizes of the files runs wrote
    "status OUTDIR": ("status", str(OUT), "--format", "json"),  # from the last run's snapshot
}
# name: (SQL that damages one value, the commands that read it)
CASES = {
    "text where a number belongs": (
        "UPDATE jobs SET idx = 'first'",
        ("report", "status OUTDIR"),
    ),
    "a number where JSON text belongs": (
        "UPDATE jobs SET vars = 42",
        ("plan", "plan --diff", "report", "status OUTDIR"),
    ),
    "text that is not JSON": (
        "UPDATE jobs SET vars = '{\"market\": '",
        ("plan", "plan --diff", "report", "status OUTDIR"),
    ),
    "a 5,000-digit number in JSON": (
        f'UPDATE jobs SET prompt_object = \'{{"prompt": "p", "n": {LONG}}}\'',
        ("plan", "plan --diff", "report", "status", "status OUTDIR"),
    ),
    "a 5,000-digit number in a number column": (
        f"UPDATE files SET width = '{LONG}'",
        ("plan", "plan --diff", "report", "status", "status OUTDIR"),
    ),
    "a 405-byte name": (
        "UPDATE files SET path = 'de-DE/' || printf('%.401c', 'n') || '.png'",
        ("plan", "plan --diff", "report", "status", "status OUTDIR"),
    ),
    "a NUL in a path": (
        "UPDATE written_files SET path = 'de-DE/a' || char(0) || '.png'"
        " WHERE rowid = (SELECT min(rowid) FROM written_files)",
        ("plan", "plan --diff", "status"),
    ),
    "text that is not UTF-8": (
        "UPDATE jobs SET label = CAST(X'C3FF' AS TEXT)",
        ("report", "status OUTDIR"),
    ),
    "a table name that is not UTF-8": (
        "PRAGMA writable_schema = ON; UPDATE sqlite_master SET name = CAST(X'FF53' AS TEXT)"
        " WHERE name = 'sent_requests'",
        ("plan", "plan --diff", "report", "run", "status", "status OUTDIR"),
    ),
    "job keys that are not a JSON list": (
        "UPDATE runs SET job_keys = 'every job'",
        ("plan", "plan --diff", "report", "status", "status OUTDIR"),
    ),
    "an output list of numbers": (
        "UPDATE jobs SET outputs = '[1, 2]'",
        ("plan", "plan --diff", "report", "status OUTDIR"),
    ),
    "a status backdrop never writes": (
        "UPDATE jobs SET status = 'exploded'",
        ("plan", "plan --diff", "report", "status", "status OUTDIR"),
    ),
    "a cost that is text": (
        "UPDATE runs SET estimated_cost_usd = 'a lot'",
        ("report", "status OUTDIR"),
    ),
    "a written file's size that is text": (
        "UPDATE written_files SET bytes = 'large'",
        ("plan", "status"),  # the plan's and status's comparison with what runs wrote
    ),
    "a written file's size of 5,000 digits": (
        f"UPDATE written_files SET bytes = '{LONG}'",
        ("plan", "status"),
    ),
    "a paid generation of 10^400 images": (
        f'UPDATE generations SET prompt_object = \'{{"n": 1{"0" * 400}, "quality": "low"}}\'',
        ("plan", "report", "status", "status OUTDIR"),  # the budget; the folder's cost so far
    ),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaign with a budget, run with --emulate: its state records four paid jobs."""
    root = tmp_path_factory.mktemp("made")
    (root / ".git").mkdir()
    write_campaign(root / "campaign", extra="budget: 5\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        from runner.cli import main

        with pytest.raises(SystemExit) as done:
            main(["run", RECIPE, "--emulate", "-y"])
        assert done.value.code == 0
    return root


@pytest.fixture
def project(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(made, folder)
    monkeypatch.chdir(folder)
    return folder


def damage(sql: str) -> None:
    conn = sqlite3.connect(STATE)
    try:
        conn.executescript(sql)
    finally:
        conn.close()


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_value_is_said_as_a_damaged_state(project, capsys, case):
    sql, readers = CASES[case]
    damage(sql)
    before = STATE.read_bytes()
    for name, args in COMMANDS.items():
        if name == "run" and name not in readers:
            continue  # a run is slower: once, for a value it reads before sending anything
        result = run_cli(capsys, *args)
        said = result.out + result.err
        assert "internal error" not in said and "Traceback" not in said, (name, said)
        if name in readers:
            assert result.code == 3, (name, said)
            assert "error: the state is damaged: " in result.err, (name, said)
            assert f"(in {STATE.absolute()})" in result.err or f"(in {STATE})" in result.err
            assert "never delete .backdrop, it records what was paid for" in result.err
        else:
            assert result.code == 0, (name, said)
    assert STATE.read_bytes() == before  # nothing was written into it


@pytest.mark.parametrize("version", [0, 2], ids=["pre-release", "newer"])
def test_a_state_of_another_version_is_refused_by_every_command(project, capsys, version):
    """Version 1 (PRAGMA user_version) is the only one: nothing released wrote another, and a
    newer backdrop's state is not guessed at. Every reader says so, exit 3, nothing written."""
    damage(f"PRAGMA user_version = {version}")
    before = STATE.read_bytes()
    for name, args in COMMANDS.items():
        result = run_cli(capsys, *args)
        said = result.out + result.err
        assert "internal error" not in said and "Traceback" not in said, (name, said)
        assert result.code == 3, (name, said)
        assert f"(state version {version}" in result.err, (name, said)
        hint = "upgrade backdrop" if version else "never delete .backdrop"
        assert hint in result.err, (name, said)
    assert STATE.read_bytes() == before


def test_the_hint_keeps_the_record_of_what_was_paid_for() -> None:
    from runner.records.state_values import DAMAGED_HINT

    assert "backup" in DAMAGED_HINT and "rename the .backdrop folder (keep the copy)" in (
        DAMAGED_HINT
    )
    assert "delete" not in DAMAGED_HINT.replace("never delete", "")
