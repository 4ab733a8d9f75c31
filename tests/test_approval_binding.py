"""A decision and the bytes it was made on: when a run releases it, how the page and export see
it, and the pick an approval of several variants must name (runner/review/binding.py, checks.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from runner.records.run_records import FileRecord, JobRecord, RunSnapshot
from runner.review.binding import (
    DEFAULT_REASON,
    approval_mismatch,
    binding,
    release_replaced,
    shown_status,
)
from runner.review.checks import decision_problems
from runner.review.decision_model import Decision, EarlierTake, Review
from runner.review.decisions import REVIEW_NAME, load_review
from runner.review.decisions import save_review as save

KEY = "fr-FR/MUG-01"
OUTPUTS = ("fr-FR/MUG-01-1.png", "fr-FR/MUG-01-2.png")


def write(out: Path, path: str, data: bytes) -> str:
    (out / path).parent.mkdir(parents=True, exist_ok=True)
    (out / path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def snapshot(out: Path, shas: dict[str, str], *, take: int = 1) -> RunSnapshot:
    """The state's view: the job at `take` with a file record per written output."""
    files = tuple(FileRecord(p, sha, 4, 4, 10) for p, sha in shas.items())
    job = JobRecord(
        key="k2",
        index=0,
        label="product=MUG-01 market=fr-FR",
        vars={},
        image_kind="file",
        image_ref="images/mug.png",
        image_path=None,
        prompt_object={"prompt": "a mug"},
        outputs=OUTPUTS,
        status="done",
        attempts=1,
        error=None,
        record_uuid="u",
        files=files,
        duration_s=1.0,
        take=take,
    )
    return RunSnapshot("camp", "recipe.yaml", "r", "t", None, "0", (), None, None, 0.0, (job,))


@pytest.fixture
def approved(tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    out = tmp_path / "out"
    shas = tuple(write(out, p, f"approved {p}".encode()) for p in OUTPUTS)
    save(out, Review({KEY: Decision("approved", pick=2, sha256=shas)}))
    return out, shas


def test_a_run_that_wrote_other_bytes_releases_the_approval_with_its_reason(approved) -> None:
    out, shas = approved
    new = {p: write(out, p, f"new {p}".encode()) for p in OUTPUTS}
    released = release_replaced(out, snapshot(out, new), {KEY: "recipe changed: prompt"})
    assert [(r.review_key, r.status, r.reason) for r in released] == [
        (KEY, "approved", "recipe changed: prompt")
    ]
    assert load_review(out).decision(KEY) == Decision(
        history=(EarlierTake(1, "approved", 2, reason="recipe changed: prompt"),)
    )
    # Only one file replaced (a run stopped between two downloads) is a replacement too.
    save(out, Review({KEY: Decision("approved", pick=2, sha256=shas)}))
    write(out, OUTPUTS[1], b"approved " + OUTPUTS[1].encode())
    half = {OUTPUTS[0]: new[OUTPUTS[0]]}
    assert [r.reason for r in release_replaced(out, snapshot(out, half), {})] == [DEFAULT_REASON]


def test_a_state_behind_the_disk_keeps_the_approval(approved) -> None:
    """Images and review.yaml pulled from git: the state is older, the files are the approved."""
    out, _ = approved
    older = {p: hashlib.sha256(b"older").hexdigest() for p in OUTPUTS}
    assert release_replaced(out, snapshot(out, older), {}) == ()
    assert load_review(out).decision(KEY).status == "approved"


def test_the_same_bytes_or_no_bytes_yet_keep_it_and_write_nothing(approved) -> None:
    out, shas = approved
    before = (out / REVIEW_NAME).stat().st_mtime_ns
    assert release_replaced(out, snapshot(out, dict(zip(OUTPUTS, shas, strict=True))), {}) == ()
    assert release_replaced(out, snapshot(out, {}), {}) == ()  # the new job not generated yet
    assert (out / REVIEW_NAME).stat().st_mtime_ns == before
    empty = out.parent / "empty"
    assert release_replaced(empty, snapshot(empty, {}), {}) == ()
    assert not (empty / REVIEW_NAME).exists()  # a run never creates review.yaml for nothing


def test_a_hand_written_decision_is_released_only_where_the_run_wrote(approved) -> None:
    out, _ = approved
    save(out, Review({KEY: Decision("approved", pick=1)}))  # no sha256: typed by hand
    new = {p: write(out, p, f"new {p}".encode()) for p in OUTPUTS}
    assert release_replaced(out, snapshot(out, new), {}) == ()
    released = release_replaced(out, snapshot(out, new), {KEY: "new images"}, {KEY})
    assert [r.reason for r in released] == ["new images"]


def test_a_retake_in_progress_is_left_to_settle_takes(approved) -> None:
    out, _ = approved
    new = {p: write(out, p, f"take 2 {p}".encode()) for p in OUTPUTS}
    assert release_replaced(out, snapshot(out, new, take=2), {}) == ()


def test_how_a_decision_holds_for_the_images_shown(approved) -> None:
    _, shas = approved
    made = Decision("approved", pick=2, sha256=shas)
    assert binding(made, shas) == "holds" and shown_status(made, shas) == "approved"
    other = (shas[0], "0" * 64)
    assert binding(made, other) == "replaced" and shown_status(made, other) == "pending"
    by_hand = Decision("approved", pick=2)
    assert binding(by_hand, shas) == "unbound" and shown_status(by_hand, shas) == "pending"
    rejected = Decision("rejected", note="too dark")  # by hand: it delivers nothing
    assert shown_status(rejected, shas) == "rejected"
    assert binding(made, (None, None)) == "no_images"
    assert binding(Decision(), shas) == "undecided"


def test_export_checks_the_delivered_file_itself(approved) -> None:
    out, shas = approved
    job = snapshot(out, dict(zip(OUTPUTS, shas, strict=True))).jobs[0]
    made = Decision("approved", pick=2, sha256=shas)
    assert approval_mismatch(out, KEY, job, made, 2) is None
    (out / OUTPUTS[1]).write_bytes(b"retouched by hand")
    found = approval_mismatch(out, KEY, job, made, 2)
    assert found is not None and found.reason == f"{OUTPUTS[1]} is not the image that was approved"
    assert approval_mismatch(out, KEY, job, made, 1) is None  # not the delivered variant
    (out / OUTPUTS[1]).unlink()
    assert approval_mismatch(out, KEY, job, made, 2) is not None


def test_approvals_must_name_a_variant_the_job_has(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / REVIEW_NAME).write_text(
        "version: 1\n"
        "jobs:\n"
        "  a: {status: approved}\n"
        "  b:\n"
        "    status: approved\n"
        "    pick: 3\n"
        "  c: {status: rejected}\n"
        "  d: {status: approved}\n"
        "  gone: {status: approved}\n"
        "  e: {status: approved, pick: 2}\n",
        encoding="utf-8",
    )
    review = load_review(tmp_path)
    problems = decision_problems(tmp_path, review, {"a": 2, "b": 2, "c": 2, "d": 1, "e": 1})
    assert [(d.headline(), d.hint) for d in problems] == [
        (
            "review.yaml:3:15: error: jobs.a.status: approved without a pick: this job has "
            "2 variants",
            "add 'pick: N' under it, N from 1 to 2: the variant to deliver (or approve it on "
            "the review page, which records the one in view)",
        ),
        (
            "review.yaml:6:11: error: jobs.b.pick: pick 3, but this job has 2 variants",
            "write a pick from 1 to 2",
        ),
        (
            "review.yaml:10:31: error: jobs.e.pick: pick 2, but this job has one image",
            "delete the pick",
        ),
    ]
