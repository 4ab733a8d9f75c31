"""Wrong or unusable folders given to export, review and report: one clear line, the right option.

Read-only disks are real (a tmpfs remounted read-only) where the test may mount; a read-only
answer from the OS is simulated where it may not, so that every machine checks the wording.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from runner.cli import main
from runner.diagnostics import EXIT_ABORTED
from runner.records.state import STATE_FILE, StateStore
from runner.records.state_folder import STATE_DIR
from runner.review.decision_model import Decision, Review
from runner.review.decisions import REVIEW_NAME, save_review
from tests.clihelp import run_cli
from tests.deliverhelp import write_campaign
from tests.disks import remount_read_only, tmpfs
from tests.platforms import posix_only


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One emulated run of 4 jobs, one of them approved, shared by the tests (read only)."""
    folder = tmp_path_factory.mktemp("papercuts")
    recipe = write_campaign(folder)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(recipe), "--emulate", "-y", "-o", str(folder / "out")])
    assert exc.value.code == 0
    # Approved as the review page approves: on the images it showed.
    shown = StateStore.read_snapshot(folder / "out").jobs
    images = next(
        tuple(f.sha256 for f in j.files) for j in shown if j.outputs[0].startswith("fr-FR/MUG-01")
    )
    approved = Decision(status="approved", sha256=images)
    save_review(folder / "out", Review({"fr-FR/MUG-01": approved}))
    return folder / "out"


@posix_only("/dev/null")
def test_export_to_a_file_a_device_or_a_path_under_a_file_says_it_must_be_a_folder(
    out, tmp_path, capsys
):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    cases = {
        "/dev/null": "/dev/null is a device",
        str(a_file): f"{a_file} is a file",
        str(a_file / "sub"): f"{a_file / 'sub'} lies under {a_file}, which is a file",
    }
    for to, said in cases.items():
        result = run_cli(capsys, "export", str(out), "--to", to)
        assert result.code == 2, result.err
        assert f"error: --to must be a folder: {said}" in result.err
        assert "e.g. --to delivery/" in result.err
        assert "Traceback" not in result.err
    assert a_file.read_text() == "mine"


def test_a_read_only_export_folder_is_named_with_exports_own_option(out, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        (disk / "delivery").mkdir()
        remount_read_only(disk)
        results = [
            run_cli(capsys, "export", str(out), "--to", str(disk / "delivery")),
            run_cli(capsys, "export", str(out), "--to", str(disk / "new")),
        ]
    for result, to in zip(results, ("delivery", "new"), strict=True):
        assert result.code == 3, result.err
        assert f"the export folder {disk / to} is on a read-only file system" in result.err
        assert "choose a writable export folder with --to" in result.err
        assert "with -o" not in result.err and "output folder" not in result.err


def test_an_unwritable_export_folder_is_told_of_to_wherever_mounting_is_refused(
    out, tmp_path, capsys, monkeypatch
):
    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("runner.deliver.delivered.create_staging_file", refused)
    result = run_cli(capsys, "export", str(out), "--to", str(tmp_path / "delivery"))
    assert result.code == 3, result.err
    assert f"no permission to write fr-FR/MUG-01.png in {tmp_path / 'delivery'}" in result.err
    assert "or choose a writable export folder with --to" in result.err
    assert "with -o" not in result.err


def test_export_from_a_read_only_output_folder_still_delivers(out, tmp_path, capsys):
    # export only reads the output folder; its private caches there are optional.
    with tmpfs(tmp_path / "disk", "8m") as disk:
        shutil.copytree(out, disk / "out")
        state = disk / "out" / STATE_DIR / STATE_FILE
        conn = sqlite3.connect(state)
        conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
        conn.close()  # the last reader out folds the WAL in and removes -wal and -shm
        assert not state.with_name(STATE_FILE + "-shm").exists()
        remount_read_only(disk)  # so -shm, which WAL readers need, cannot be made
        result = run_cli(capsys, "export", str(disk / "out"), "--to", str(tmp_path / "delivery"))
    assert result.code == 0, result.err
    assert (tmp_path / "delivery" / "fr-FR" / "MUG-01.png").is_file()


def test_review_refuses_a_read_only_output_folder_before_serving(
    out, tmp_path, capsys, monkeypatch
):
    def served(self: object) -> None:
        raise AssertionError("the review page was served on a folder it cannot save into")

    monkeypatch.setattr("runner.review.review_server.ReviewServer.serve_forever", served)
    with tmpfs(tmp_path / "disk", "8m") as disk:
        shutil.copytree(out, disk / "out")
        before = (disk / "out" / REVIEW_NAME).read_bytes()
        remount_read_only(disk)
        result = run_cli(capsys, "review", str(disk / "out"), "--no-browser")
        assert (disk / "out" / REVIEW_NAME).read_bytes() == before
    assert result.code == 3, result.err
    assert f"error: {disk / 'out'} is read-only: decisions could not be saved" in result.err
    assert "open report.html" in result.err
    assert "Open http" not in result.out


def test_review_refuses_a_folder_it_may_not_write_wherever_mounting_is_refused(
    out, capsys, monkeypatch
):
    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("runner.review.writable.temp_beside", refused)
    monkeypatch.setattr("runner.review.review_server.ReviewServer.serve_forever", refused)
    result = run_cli(capsys, "review", str(out), "--no-browser")
    assert result.code == 3, result.err
    assert "is read-only for you (no permission to write there): decisions could not be saved" in (
        result.err
    )


def test_report_on_a_read_only_folder_offers_no_option_it_does_not_have(out, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        shutil.copytree(out, disk / "out")
        remount_read_only(disk)
        result = run_cli(capsys, "report", str(disk / "out"))
    assert result.code == 3, result.err
    assert f"the output folder {disk / 'out'} is on a read-only file system" in result.err
    assert "run backdrop report on the copy" in result.err
    assert "with -o" not in result.err


@pytest.mark.parametrize(
    "command", [("report",), ("export", "--to", "delivery"), ("review", "--no-browser")]
)
@posix_only("/dev/null")
def test_a_file_or_a_device_given_as_outdir_is_said_to_be_no_output_folder(
    tmp_path, capsys, command
):
    a_file = tmp_path / "results.csv"
    a_file.write_text("mine")
    for target, what in ((a_file, "a file"), (Path("/dev/null"), "a device")):
        result = run_cli(capsys, command[0], str(target), *command[1:])
        assert result.code == 2, result.err
        assert f"error: {target} is {what}" in result.err
        assert "not an output folder" in result.err
        assert "no run has written" not in result.err


@posix_only("/dev/null")
def test_verify_of_a_folder_no_run_wrote_does_not_send_you_to_report(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    result = run_cli(capsys, "verify", str(tmp_path / "empty"))
    assert result.code == 2, result.err
    assert "no run has written to it" in result.err
    assert "backdrop report" not in result.err  # it would find no run either
    device = run_cli(capsys, "verify", "/dev/null")
    assert device.code == 2
    assert "'/dev/null' is a device, a pipe or a socket, neither an output folder" in device.err


@posix_only("/dev/null")
def test_init_into_a_file_a_device_or_under_a_file_says_it_is_not_a_folder(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    cases = {
        "/dev/null": "it is a device",
        str(a_file): "it is a file, not a folder",
        str(a_file / "new"): f"it lies under {a_file}, which is a file",
    }
    for target, said in cases.items():
        result = run_cli(capsys, "init", target)
        assert result.code == 2, result.err
        assert f"error: cannot create the project in {target}: {said}" in result.err
        assert "File exists" not in result.err
    assert a_file.read_text() == "mine"


class _FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_output_redirected_into_a_full_disk_fails_instead_of_succeeding(capsys, monkeypatch):
    # `backdrop schema > recipe.schema.json` on a full disk once exited 0 with an empty file.
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    with pytest.raises(SystemExit) as done:
        main(["schema"])
    assert done.value.code == EXIT_ABORTED
    err = capsys.readouterr().err
    assert "error: what this command printed could not all be written: No space left" in err
    assert "make room on that disk" in err


def test_a_reader_that_went_away_still_ends_quietly(capsys, monkeypatch):
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    monkeypatch.setattr(sys, "stdout", Gone())
    with pytest.raises(SystemExit) as done:
        main(["schema"])
    assert done.value.code == 0
    assert capsys.readouterr().err == ""


def test_report_on_a_full_disk_does_not_talk_of_paid_results(out, capsys, monkeypatch):
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("runner.fileio.temp_beside", full)
    # Another separator: results.csv must be written again (reports up to date are not written).
    result = run_cli(capsys, "report", str(out), "--csv-separator", ";")
    assert result.code == 3, result.err
    assert f"the disk holding {out} is full" in result.err
    assert "make room on that disk, or copy the folder" in result.err
    assert "paid" not in result.err


def test_an_output_folder_that_is_a_file_is_said_with_what_to_do(out, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    recipe = out.parent / "recipe.yaml"
    for args in (("plan",), ("plan", "--diff"), ("run", "--emulate", "-y")):
        result = run_cli(capsys, args[0], str(recipe), *args[1:], "-o", str(a_file))
        assert result.code == 2, result.err
        assert f"--output-dir: {a_file} cannot be the output folder: it is not a folder" in (
            result.err
        )
        assert "e.g. -o out/campaign" in result.err
    assert a_file.read_text() == "mine"


def test_a_file_or_folder_in_the_way_of_backdrops_own_files_is_named(out, tmp_path, capsys):
    recipe = out.parent / "recipe.yaml"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".backdrop").write_text("not ours")
    run = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "-o", str(tmp_path / "other"))
    assert run.code == 3, run.err
    assert f"{tmp_path / 'other' / '.backdrop'} is a file, not a folder" in run.err
    assert f"rename or remove {tmp_path / 'other' / '.backdrop'}" in run.err
    assert "File exists" not in run.err and "Not a directory" not in run.err
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "backdrop.lock").unlink()
    (copy / "backdrop.lock").mkdir()
    report = run_cli(capsys, "report", str(copy))
    assert report.code == 3, report.err
    assert f"{copy / 'backdrop.lock'} is a folder" in report.err
    assert "rename or remove that folder" in report.err


def test_verify_of_a_sharded_runs_folder_points_at_its_shards(tmp_path, capsys):
    (tmp_path / "out" / "shard-1").mkdir(parents=True)
    (tmp_path / "out" / "shard-1" / "backdrop.lock").write_text('{"format": 2, "outputs": []}')
    result = run_cli(capsys, "verify", str(tmp_path / "out"))
    assert result.code == 2, result.err
    assert "its runs wrote into shard folders" in result.err
    assert f"backdrop verify {tmp_path / 'out' / 'shard-1'}" in result.err
