"""backdrop.lock's `generations`: what the folder paid for, in the same bytes every time, read
back as written; a hand-edited or hostile entry is a mistake at backdrop.lock:LINE:COL, as any
other in the lock (left out, it would lower what the budget counts)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from runner.records.lock_reader import LockFileError, read_lock
from runner.records.lockfile import LOCK_NAME, build_lock, render_lock
from runner.records.run_records import MAYBE_PREFIX, GenerationRecord
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


GOOD = {"id": "good", "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024"}


def refusal(folder: Path, generations: object) -> str:
    """The first mistake read_lock says about a lock with these generations, as a user sees it."""
    lock = {"format": 2, "recipe": "camp", "outputs": [], "generations": generations}
    (folder / LOCK_NAME).write_text(json.dumps(lock))
    with pytest.raises(LockFileError) as refused:
        read_lock(folder)
    return refused.value.diagnostics()[0].render()


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("a string", "generation 1 must be an object with id, job, n, quality and size"),
        (["a", "list"], "generation 1 must be an object"),
        ({**GOOD, "id": None}, 'generation 1: "id" must be the generation\'s id'),
        ({k: v for k, v in GOOD.items() if k != "id"}, 'generation 1: "id" must be'),
        ({**GOOD, "id": ""}, 'generation 1: "id" must be the generation\'s id (text of 1 to'),
        ({**GOOD, "id": "x" * 201}, 'generation 1: "id" must be'),
        ({**GOOD, "id": 7}, 'generation 1: "id" must be'),
        ({**GOOD, "n": 0}, 'generation 1: "n" must be the number of images asked for, 1 to 10'),
        ({**GOOD, "n": 11}, 'generation 1: "n" must be'),
        ({**GOOD, "n": True}, 'generation 1: "n" must be'),
        ({**GOOD, "n": 1e300}, 'generation 1: "n" must be'),
        ({**GOOD, "n": 10**400}, 'generation 1: "n" must be'),
        ({**GOOD, "n": [1]}, 'generation 1: "n" must be'),
        ({**GOOD, "quality": "ultra"}, 'generation 1: "quality" must be one of low, medium,'),
        ({**GOOD, "quality": ["low"]}, 'generation 1: "quality" must be one of'),
        ({**GOOD, "size": "99999x1"}, 'generation 1: "size" must be one of 1024x1024,'),
        ({**GOOD, "run": ["r"]}, 'generation 1: "run" must be the id of the run that sent it'),
        ({**GOOD, "job": {"k": 1}}, 'generation 1: "job" must be a job key (text)'),
        ({**GOOD, "job": "\ud800"}, 'generation 1: "job" must be a job key'),
        ({**GOOD, "maybe": "yes"}, 'generation 1: "maybe" must be true'),
    ],
)
def test_an_entry_that_cannot_say_what_it_cost_is_a_mistake_at_its_place(
    tmp_path: Path, entry: object, said: str
) -> None:
    told = refusal(tmp_path, [entry, GOOD])
    assert said in told, told
    assert f"{LOCK_NAME}:1:" in told  # json.dumps writes one line: the line, and a column


@pytest.mark.parametrize("generations", [None, "all of them", 3, {"id": "u"}])
def test_a_generations_section_that_is_no_list_is_a_mistake(
    tmp_path: Path, generations: object
) -> None:
    told = refusal(tmp_path, generations)
    assert '"generations" must be a list of the generations paid for (or left out)' in told


@pytest.mark.parametrize("generations", [[], "absent"])
def test_a_lock_without_generations_reads_as_none(tmp_path: Path, generations: object) -> None:
    lock: dict[str, object] = {"format": 2, "recipe": "camp", "outputs": []}
    if generations != "absent":
        lock["generations"] = generations
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    assert read_lock(tmp_path).generations == ()


def test_the_same_generation_twice_is_a_mistake_at_the_second(tmp_path: Path) -> None:
    told = refusal(tmp_path, [GOOD, {**GOOD, "run": "another"}])
    assert "generation 2: lists generation good of job job-a again (generation 1 did)" in told
    # a maybe-charged one is the same generation however its id is written
    maybe = {**GOOD, "id": f"{MAYBE_PREFIX}u", "maybe": True}
    told = refusal(tmp_path, [maybe, {**GOOD, "id": "u", "maybe": True}])
    assert f"lists generation {MAYBE_PREFIX}u of job job-a again" in told


def test_maybe_true_marks_an_entry_maybe_charged(tmp_path: Path) -> None:
    entry = {"id": "u", "job": "job-a", "n": 1, "quality": "low", "size": "1024x1024",
             "maybe": True}  # fmt: skip
    lock = {"format": 2, "recipe": "camp", "outputs": [], "generations": [entry]}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    (read,) = read_lock(tmp_path).generations
    assert read.maybe and read.id == f"{MAYBE_PREFIX}u"
