"""A read-only output folder: `run` and `report` say so and exit 3, never "internal error"."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from runner.records.reserve import RESERVE_FILE
from tests.clihelp import run_cli
from tests.disks import remount_read_only, tmpfs

EXAMPLE = Path(__file__).parent / "fixtures" / "example"


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "campaign")
    recipe = tmp_path / "campaign" / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("size: 1536x1024", "size: 1024x1024"))
    monkeypatch.chdir(tmp_path)
    return recipe


def test_a_read_only_file_system_is_named_by_run_and_report(campaign, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "20m") as disk:
        out = str(disk / "out")
        first = run_cli(capsys, "run", str(campaign), "--emulate", "-y", "--limit", "2", "-o", out)
        assert first.code == 0, first.err
        remount_read_only(disk)
        # Reports up to date are not written: nothing to refuse. Another separator is.
        assert run_cli(capsys, "report", out).code == 0
        report = run_cli(capsys, "report", out, "--csv-separator", ";")
        run = run_cli(capsys, "run", str(campaign), "--emulate", "-y", "--limit", "2", "-o", out)
    for result in (report, run):
        assert result.code == 3, result.err
        assert f"the output folder {out} is on a read-only file system" in result.err
        assert "internal error" not in result.err


def test_an_unwritable_report_is_a_clear_error_even_where_nothing_can_be_mounted(
    campaign, tmp_path, capsys, monkeypatch
):
    first = run_cli(capsys, "run", str(campaign), "--emulate", "-y", "--limit", "1", "-o", "out")
    assert first.code == 0, first.err

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("runner.fileio.temp_beside", read_only)
    up_to_date = run_cli(capsys, "report", "out")  # nothing to write: nothing refused
    assert up_to_date.code == 0, up_to_date.err
    report = run_cli(capsys, "report", "out", "--csv-separator", ";")  # results.csv changes
    assert report.code == 3
    assert "is on a read-only file system" in report.err
    assert "internal error" not in report.err


def test_a_reserve_refused_by_a_read_only_disk_is_not_called_a_full_disk(
    campaign, tmp_path, capsys, monkeypatch
):
    # The state opens (it was there before), but the room kept for its last writes cannot be
    # set aside: "make room on that disk" would send the user deleting files for nothing.
    first = run_cli(capsys, "run", str(campaign), "--emulate", "-y", "--limit", "1", "-o", "out")
    assert first.code == 0, first.err
    (tmp_path / "out" / ".backdrop" / RESERVE_FILE).unlink()
    real_open = os.open

    def read_only_reserve(path: Any, *args: Any, **kwargs: Any) -> int:
        if Path(path).name == RESERVE_FILE:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_reserve)
    run = run_cli(capsys, "run", str(campaign), "--emulate", "-y", "--limit", "2", "-o", "out")
    assert run.code == 3, run.err
    assert f"the output folder {tmp_path / 'out'} is on a read-only file system" in run.err
    assert "make room" not in run.err
