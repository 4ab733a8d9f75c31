"""Write every report into the output folder: report.html, results.json, results.csv, junit.xml
and backdrop.lock, each atomically, plus the thumbnails the contact sheet shows."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner.execute.records import RunSnapshot
from runner.report.atomic import write_atomic
from runner.report.html import HtmlInputs, render_html
from runner.report.junit import render_junit
from runner.report.manifest import LOCK_NAME, build_lock, render_lock, sha256_of
from runner.report.results_csv import render_results_csv
from runner.report.results_json import render_results_json
from runner.report.thumbs import Thumb, ThumbRequest, build_thumbnails


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    json: Path
    csv: Path
    junit: Path
    lock: Path | None  # None: not written (a merged report)


@dataclass(frozen=True)
class ReportContext:
    """What writers may need beyond the snapshot."""

    output_dir: Path
    thumbs: Mapping[str, Thumb | None]  # by output file sha256
    source_thumbs: Mapping[str, Thumb | None]  # by absolute path of a local source image


class ReportWriter(Protocol):
    filename: str

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes: ...


class HtmlReport:
    filename = "report.html"

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        inputs = HtmlInputs(context.output_dir, context.thumbs, context.source_thumbs)
        return render_html(snapshot, inputs).encode("utf-8")


class JsonReport:
    filename = "results.json"

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_results_json(snapshot).encode("utf-8")


class CsvReport:
    filename = "results.csv"

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_results_csv(snapshot)


class JunitReport:
    filename = "junit.xml"

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_junit(snapshot)


class LockManifest:
    filename = LOCK_NAME

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_lock(build_lock(snapshot)).encode("utf-8")


WRITERS: tuple[ReportWriter, ...] = (
    HtmlReport(),
    JsonReport(),
    CsvReport(),
    JunitReport(),
    LockManifest(),
)


def write_reports(snapshot: RunSnapshot, output_dir: Path, *, lock: bool = True) -> ReportPaths:
    """Write all reports for a snapshot into output_dir and return where they are.

    `lock=False` leaves backdrop.lock alone: a merged report spans several folders, and each
    folder's lock stays the manifest of that folder's own files.
    """
    output_dir = Path(os.path.abspath(output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    thumbs, source_thumbs = prepare_thumbnails(snapshot, output_dir)
    context = ReportContext(output_dir, thumbs, source_thumbs)
    for writer in WRITERS:
        if lock or writer.filename != LockManifest.filename:
            write_atomic(output_dir / writer.filename, writer.render(snapshot, context))
    return ReportPaths(
        html=output_dir / HtmlReport.filename,
        json=output_dir / JsonReport.filename,
        csv=output_dir / CsvReport.filename,
        junit=output_dir / JunitReport.filename,
        lock=output_dir / LockManifest.filename if lock else None,
    )


def prepare_thumbnails(
    snapshot: RunSnapshot, output_dir: Path
) -> tuple[dict[str, Thumb | None], dict[str, Thumb | None]]:
    requests: dict[str, ThumbRequest] = {}
    for job in snapshot.jobs:
        for record in job.files:
            requests.setdefault(
                record.sha256,
                ThumbRequest(output_dir / record.path, record.width, record.height),
            )
    # A source image is hashed each time (there are few), so an edited original gets a new thumb.
    source_sha: dict[str, str | None] = {}
    for job in snapshot.jobs:
        if job.image_kind == "file" and job.image_path and job.image_path not in source_sha:
            digest = sha256_of(Path(job.image_path))
            source_sha[job.image_path] = digest
            if digest is not None:
                requests.setdefault(digest, ThumbRequest(Path(job.image_path)))
    made = build_thumbnails(output_dir, requests)
    sources = {path: (made.get(sha) if sha else None) for path, sha in source_sha.items()}
    return made, sources
