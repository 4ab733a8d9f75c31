"""What every report tells of the folder (content.py): each job's generation, the latest one, the
cost of the folder's generations; and reports written only when their bytes change."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path

import pytest

from runner.fileio import write_if_changed
from runner.recipe.model import PriceTable
from runner.records.run_records import MAYBE_PREFIX, GenerationRecord
from runner.report.content import folder_content, iso_utc
from runner.report.writer import write_reports
from tests.platforms import posix_only
from tests.report_snapshots import JobSpec, build_snapshot, make_sources

EARLY, LATE = "20240301T080000Z-aaaaaa", "20240302T090000Z-bbbbbb"


def _snapshot(tmp_path: Path, count: int = 2):
    specs = [JobSpec({"season": f"s{i}"}, f"a mug, {i}") for i in range(count)]
    return build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs, axes=("season",))


def test_a_job_taken_from_a_lock_is_told_by_its_latest_charged_generation(tmp_path) -> None:
    """A fresh clone's state takes a job from backdrop.lock without a record of its own: the
    reports name the generation the lock records for it, as on the machine that ran it."""
    snapshot = _snapshot(tmp_path)
    job = dataclasses.replace(snapshot.jobs[0], record_uuid=None)
    key = job.key
    generations = (
        GenerationRecord("old", key, EARLY, 1, "medium", "1536x1024"),  # forced over since
        GenerationRecord("new", key, LATE, 1, "medium", "1536x1024"),
        GenerationRecord(
            f"{MAYBE_PREFIX}{key}:x", key, "20240303T000000Z-cccccc", 1, "low", "1024x1024"
        ),
    )
    content = folder_content(
        dataclasses.replace(snapshot, jobs=(job, *snapshot.jobs[1:]), generations=generations)
    )
    assert content.generated[key].record == "new"
    assert iso_utc(content.generated[key].at) == "2024-03-02T09:00:00Z"
    # The latest generation on record, answered or not, is when the folder last changed.
    assert iso_utc(content.updated_at) == "2024-03-03T00:00:00Z"


def test_cost_counts_every_charge_at_the_recorded_prices_and_tells_maybe_apart(tmp_path) -> None:
    snapshot = _snapshot(tmp_path)
    first = snapshot.jobs[0].key
    prices = PriceTable(square={"low": 0.5}, non_square={"medium": 2.0})
    snapshot = dataclasses.replace(
        snapshot,
        prices=prices,
        generations=(
            GenerationRecord("a", first, EARLY, 1, "medium", "1536x1024"),
            GenerationRecord("b", first, LATE, 2, "medium", "1536x1024"),  # --force, n = 2
            GenerationRecord(f"{MAYBE_PREFIX}{first}:1", first, LATE, 1, "low", "1024x1024"),
        ),
    )
    # The second job is done without any generation on record (an old lock): once, at its
    # request's price (n = 1, medium, 1536x1024), as the budget counts it.
    content = folder_content(snapshot)
    assert content.cost_usd == pytest.approx(2.0 + 2 * 2.0 + 2.0)
    assert content.maybe_charged_usd == pytest.approx(0.5)
    paths = write_reports(snapshot, tmp_path)
    results = json.loads(paths["results.json"].read_text("utf-8"))
    assert results["estimated_cost_usd"] == pytest.approx(8.0)
    assert results["maybe_charged_usd"] == pytest.approx(0.5)
    assert results["jobs"][1]["generated_at"] is None  # no record says when
    page = paths.html.read_text("utf-8")
    assert "estimated cost so far $8.00 + $0.50 maybe charged (list prices" in page


def test_a_folder_with_nothing_generated_has_no_time(tmp_path) -> None:
    specs = [JobSpec({"season": "spring"}, "a mug", status="pending")]
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs, axes=("season",))
    paths = write_reports(snapshot, tmp_path)
    results = json.loads(paths["results.json"].read_text("utf-8"))
    assert results["updated_at"] is None and results["estimated_cost_usd"] == 0
    assert '<p class="meta">Nothing generated yet · ' in paths.html.read_text("utf-8")


def test_a_report_with_the_same_bytes_is_not_written_at_all(tmp_path) -> None:
    path = tmp_path / "results.json"
    assert write_if_changed(path, b"one\n")
    os.utime(path, ns=(1, 1))
    inode = path.stat().st_ino
    assert not write_if_changed(path, b"one\n")
    assert path.stat().st_mtime_ns == 1 and path.stat().st_ino == inode  # not even replaced
    assert write_if_changed(path, b"two\n")
    assert path.read_bytes() == b"two\n"


def test_write_reports_says_which_were_up_to_date(tmp_path) -> None:
    snapshot = _snapshot(tmp_path)
    first = write_reports(snapshot, tmp_path)
    assert first.unchanged == ()
    again = write_reports(snapshot, tmp_path)
    assert again.unchanged == again.written


@posix_only("named pipes in a folder (os.mkfifo)")
def test_what_sits_at_a_report_name_is_never_read_unless_a_file_of_that_size(tmp_path) -> None:
    """A pipe would block the comparison forever; a link could lead anywhere: both are
    replaced by the report, as before, without being read."""
    fifo = tmp_path / "report.html"
    os.mkfifo(fifo)
    done = threading.Event()

    def write() -> None:
        write_if_changed(fifo, b"<!doctype html>")
        done.set()

    worker = threading.Thread(target=write, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if not done.is_set():  # unblock the reader so that the test ends, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("write_if_changed read a pipe")
    assert fifo.is_file() and fifo.read_bytes() == b"<!doctype html>"

    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(b"{}\n")
    link = tmp_path / "results.json"
    link.symlink_to(outside)
    assert write_if_changed(link, b"{}\n")  # the same bytes, through a link: replaced all the same
    assert not link.is_symlink() and outside.read_bytes() == b"{}\n"
