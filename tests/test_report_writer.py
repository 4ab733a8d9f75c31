"""write_reports: every file written atomically, thumbnails made once and pruned when unused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PIL import Image

from runner.execute.thumbs import THUMB_MAX
from runner.report.writer import write_reports
from tests.report_snapshots import (
    build_snapshot,
    campaign_specs,
    file_record,
    make_image,
    make_sources,
)


def _thumbs(out: Path) -> dict[str, int]:
    folder = out / ".backdrop" / "thumbs"
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_writes_every_report_and_no_temporary_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    paths = write_reports(snapshot, out)
    names = [p.name for p in paths]
    assert names == ["report.html", "results.json", "results.csv", "junit.xml", "backdrop.lock"]
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    assert not [p for p in out.rglob("*.tmp")]


def test_thumbnails_are_small_jpeg_files_named_by_hash(tmp_path: Path) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(
        out, make_sources(tmp_path / "src"), campaign_specs(), size=(768, 512)
    )
    write_reports(snapshot, out)
    thumbs = _thumbs(out)
    assert len(thumbs) == 12 + 2  # every result image and the two originals
    record = snapshot.jobs[0].files[0]
    with Image.open(out / ".backdrop" / "thumbs" / f"{record.sha256}-{THUMB_MAX}.jpg") as image:
        assert image.format == "JPEG" and image.size == (256, 171)


def test_thumbnails_are_reused_and_stale_ones_pruned(tmp_path: Path) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    write_reports(snapshot, out)
    before = _thumbs(out)
    write_reports(snapshot, out)
    assert _thumbs(out) == before  # nothing re-made

    # One image regenerated: its new thumbnail appears, the old one goes.
    job = snapshot.jobs[3]
    old = job.files[0]
    make_image(out / old.path, (384, 256), (9, 9, 9), "WEBP")
    new = file_record(out, old.path)
    jobs = list(snapshot.jobs)
    jobs[3] = dataclasses.replace(job, files=(new,))
    write_reports(dataclasses.replace(snapshot, jobs=tuple(jobs)), out)
    after = _thumbs(out)
    assert f"{old.sha256}-{THUMB_MAX}.jpg" not in after
    assert f"{new.sha256}-{THUMB_MAX}.jpg" in after
    unchanged = set(before) - {f"{old.sha256}-{THUMB_MAX}.jpg"}
    assert all(after[name] == before[name] for name in unchanged)


def test_an_empty_run_still_gets_reports(tmp_path: Path) -> None:
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), [])
    paths = write_reports(snapshot, tmp_path)
    assert "This run has no jobs." in paths.html.read_text(encoding="utf-8")
    assert '"outputs": []' in paths["backdrop.lock"].read_text(encoding="utf-8")
