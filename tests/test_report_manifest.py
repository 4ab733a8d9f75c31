"""backdrop.lock: deterministic bytes, and verify's missing / changed / stale."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from runner.diagnostics import BackdropError
from runner.plan.fingerprints import FIELDS, request_fingerprints
from runner.records.lock_reader import read_lock, verify_outputs
from runner.records.lockfile import LOCK_FORMAT, find_stale
from runner.report.writer import write_reports
from tests.report_snapshots import build_snapshot, campaign_specs, make_image, make_sources


@pytest.fixture
def run(tmp_path: Path):
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    paths = write_reports(snapshot, out)
    return snapshot, out, paths


def test_lock_lists_every_output_sorted_without_failed_jobs(run) -> None:
    snapshot, _, paths = run
    data = json.loads(paths["backdrop.lock"].read_text(encoding="utf-8"))
    assert data["format"] == LOCK_FORMAT == 2 and data["recipe"] == "spring-campaign"
    listed = [entry["path"] for entry in data["outputs"]]
    assert listed == sorted(listed) and len(listed) == 12
    failed = snapshot.jobs[1]
    assert failed.key not in {entry["job"] for entry in data["outputs"]}
    by_path = {entry["path"]: entry for entry in data["outputs"]}
    record = snapshot.jobs[0].files[1]
    job = snapshot.jobs[0]
    assert by_path[record.path] == {
        "path": record.path,
        "job": job.key,
        "sha256": record.sha256,
        "request": dict(
            request_fingerprints(job.prompt_object, f"{job.image_kind}:{job.image_ref}", job.take)
        ),
    }
    assert list(by_path[record.path]["request"]) == list(FIELDS)
    text = paths["backdrop.lock"].read_text(encoding="utf-8")
    # No timestamps (the generations' run ids name the runs that paid, not when it was written).
    assert text.endswith("}\n") and "2024-" not in text and "14:07" not in text


def test_rewriting_an_unchanged_run_is_byte_for_byte_identical(run) -> None:
    snapshot, out, paths = run
    first = paths["backdrop.lock"].read_bytes()
    shuffled = dataclasses.replace(
        snapshot,
        jobs=tuple(reversed(snapshot.jobs)),
        run_id="run-0002",
        started_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:01:00+00:00",
    )
    write_reports(shuffled, out)
    assert paths["backdrop.lock"].read_bytes() == first


def test_verify_passes_on_an_intact_folder(run) -> None:
    _, out, _ = run
    result = verify_outputs(out)
    assert result.ok and result.missing == result.changed == result.stale == ()


def test_verify_reports_missing_changed_and_stale(run) -> None:
    _, out, _ = run
    (out / "job-003.webp").unlink()
    make_image(out / "job-000-2.webp", (384, 256), (1, 2, 3), "WEBP")  # edited by hand
    make_image(out / "old" / "leftover.png", (8, 8), (0, 0, 0), "PNG")
    make_image(out / "job-001.webp", (8, 8), (0, 0, 0), "WEBP")  # the failed job's path
    make_image(out / ".backdrop" / "cache.png", (8, 8), (0, 0, 0), "PNG")  # ignored
    (out / "notes.txt").write_text("not an image")  # ignored
    result = verify_outputs(out)
    assert not result.ok
    assert result.missing == ("job-003.webp",)
    assert result.changed == ("job-000-2.webp",)
    assert result.stale == ("job-001.webp", "old/leftover.png")


def test_find_stale_with_a_snapshot_keeps_a_failed_job_planned_output(run) -> None:
    snapshot, out, _ = run
    make_image(out / "job-001.webp", (8, 8), (0, 0, 0), "WEBP")
    make_image(out / "FR" / "old.jpg", (8, 8), (0, 0, 0), "JPEG")
    assert find_stale(out, snapshot) == [Path("FR/old.jpg")]


def test_a_missing_lock_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".backdrop").mkdir()  # a run wrote its state, not the lock: report rebuilds it
    with pytest.raises(BackdropError) as caught:
        verify_outputs(tmp_path)
    assert "no backdrop.lock in" in caught.value.message
    assert caught.value.hint and "backdrop report" in caught.value.hint


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"format": 99, "outputs": []}', '{"format": 1, "outputs": [{"path": 1}]}'],
)
def test_an_unreadable_lock_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "backdrop.lock").write_text(content)
    with pytest.raises(BackdropError) as caught:
        read_lock(tmp_path)
    assert "backdrop.lock" in caught.value.message and caught.value.hint


def test_a_format_1_lock_or_an_output_without_its_request_is_refused(run) -> None:
    """Format 2 is the only one (nothing released wrote format 1): no reader guesses."""
    _, out, paths = run
    written = paths["backdrop.lock"].read_text(encoding="utf-8")
    data = json.loads(written)
    data["format"] = 1
    paths["backdrop.lock"].write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BackdropError) as caught:
        read_lock(out)
    said = [d.render() for d in caught.value.diagnostics()]
    assert "this backdrop.lock is format 1; this backdrop reads format 2\n" in said[0] + "\n"
    data = json.loads(written)
    del data["outputs"][3]["request"]
    paths["backdrop.lock"].write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(BackdropError) as caught:
        read_lock(out)
    said = [d.render() for d in caught.value.diagnostics()]
    assert 'output 4: "request" must map each field to a short fingerprint' in said[0]
    paths["backdrop.lock"].write_text(written, encoding="utf-8")
    assert verify_outputs(out).ok


def test_request_fingerprints_differ_only_in_the_field_that_changed() -> None:
    po = {"prompt": "a mug", "size": "1024x1024", "quality": "low", "n": 1}
    before = dict(request_fingerprints(po, "file:images/mug.png", 1))
    after = dict(request_fingerprints({**po, "quality": "high"}, "file:images/mug.png", 1))
    assert [name for name in FIELDS if before[name] != after[name]] == ["quality"]
    assert all(len(value) == 12 for value in before.values())
