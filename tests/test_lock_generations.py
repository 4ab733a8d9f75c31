"""backdrop.lock's `generations`: what the folder paid for, in the same bytes every time, read
back as written, and a hand-edited or hostile entry left out without losing the rest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from runner.execute.records import MAYBE_PREFIX, GenerationRecord
from runner.report.manifest import LOCK_NAME, build_lock, read_lock, render_lock
from runner.report.writer import write_reports
from tests.report_snapshots import build_snapshot, campaign_specs, make_sources

PAID = GenerationRecord("3f2a-uuid", "job-a", "run-0001", 1, "low", "1024x1024")
FORCED = GenerationRecord("9c1b-uuid", "job-a", "run-0002", 2, "high", "1536x1024")
MAYBE = GenerationRecord(f"{MAYBE_PREFIX}job-b:2026-01-02T03:04:05.678Z:1", "job-b", "run-0002",
                         1, "medium", "1024x1536")  # fmt: skip


def test_generations_are_written_in_run_order_and_read_back_as_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    lock = build_lock(dataclasses.replace(snapshot, generations=(MAYBE, FORCED, PAID)))
    assert lock.generations == (PAID, FORCED, MAYBE)  # by run, then id
    text = render_lock(lock)
    (tmp_path / LOCK_NAME).write_text(text)
    assert read_lock(tmp_path).generations == (PAID, FORCED, MAYBE)
    data = json.loads(text)
    assert data["generations"][-1]["maybe"] is True
    assert "maybe" not in data["generations"][0]
    assert data["generations"][1] == {"id": "9c1b-uuid", "job": "job-a", "run": "run-0002",
                                      "n": 2, "quality": "high", "size": "1536x1024"}  # fmt: skip
    assert len([line for line in text.splitlines() if '"id":' in line]) == 3  # one per line


def test_a_rebuilt_lock_keeps_the_generations_the_lock_on_disk_records(tmp_path: Path) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    snapshot = dataclasses.replace(snapshot, generations=(PAID,))
    write_reports(snapshot, out)
    first = (out / LOCK_NAME).read_bytes()
    assert read_lock(out).generations == (PAID,)
    # Another machine's spending, pulled from git into the lock: kept by the next rewrite.
    data = json.loads(first)
    data["generations"].append({"id": "other-uuid", "job": "job-z", "run": "run-9", "n": 3,
                                "quality": "medium", "size": "1024x1024"})  # fmt: skip
    (out / LOCK_NAME).write_text(json.dumps(data))
    write_reports(snapshot, out)
    assert {g.id for g in read_lock(out).generations} == {PAID.id, "other-uuid"}
    kept = (out / LOCK_NAME).read_bytes()
    write_reports(snapshot, out)
    assert (out / LOCK_NAME).read_bytes() == kept  # and then the same bytes every time
    assert build_lock(snapshot).generations == (PAID,)


@pytest.mark.parametrize(
    "entry",
    [
        "a string",
        ["a", "list"],
        {"job": "job-a", "n": 1, "quality": "low", "size": "1024x1024"},  # no id
        {"id": "", "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024"},
        {"id": "x" * 201, "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024"},
        {"id": 7, "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024"},
        {"id": "u", "job": "job-a", "n": 0, "quality": "low", "size": "1024x1024"},
        {"id": "u", "job": "job-a", "n": 11, "quality": "low", "size": "1024x1024"},
        {"id": "u", "job": "job-a", "n": True, "quality": "low", "size": "1024x1024"},
        {"id": "u", "job": "job-a", "n": 1e300, "quality": "low", "size": "1024x1024"},
        {"id": "u", "job": "job-a", "n": 1, "quality": "ultra", "size": "1024x1024"},
        {"id": "u", "job": "job-a", "n": 1, "quality": "low", "size": "99999x1"},
        {"id": "u", "job": "job-a", "run": ["r"], "n": 1, "quality": "low", "size": "1024x1024"},
        {"id": "u", "job": {"k": 1}, "n": 1, "quality": "low", "size": "1024x1024"},
    ],
)
def test_an_entry_that_cannot_say_what_it_cost_is_left_out(tmp_path: Path, entry: object) -> None:
    good = {"id": "good", "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024"}
    lock = {"format": 2, "recipe": "camp", "outputs": [], "generations": [entry, good]}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    assert [g.id for g in read_lock(tmp_path).generations] == ["good"]


@pytest.mark.parametrize("generations", [None, "all of them", 3, {"id": "u"}, []])
def test_a_lock_without_a_usable_generations_list_reads_as_none(
    tmp_path: Path, generations: object
) -> None:
    lock = {"format": 2, "recipe": "camp", "outputs": [], "generations": generations}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    assert read_lock(tmp_path).generations == ()


def test_the_same_generation_twice_in_a_lock_is_one(tmp_path: Path) -> None:
    one = {"id": "u", "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024"}
    lock = {"format": 2, "recipe": "camp", "outputs": [], "generations": [one, dict(one)]}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    assert len(read_lock(tmp_path).generations) == 1


def test_maybe_true_marks_an_entry_maybe_charged(tmp_path: Path) -> None:
    entry = {"id": "u", "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024",
             "maybe": True}  # fmt: skip
    lock = {"format": 2, "recipe": "camp", "outputs": [], "generations": [entry]}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    (read,) = read_lock(tmp_path).generations
    assert read.maybe and read.id == f"{MAYBE_PREFIX}u"
