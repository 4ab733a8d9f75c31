"""Write every registered report (formats.py) into the output folder, each atomically, plus the
thumbnails the contact sheet shows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runner.execute.records import RunSnapshot
from runner.report.atomic import write_atomic
from runner.report.context import ReportContext, ReportOptions
from runner.report.manifest import sha256_of
from runner.report.thumbs import Thumb, ThumbRequest, build_thumbnails


@dataclass(frozen=True)
class ReportPaths:
    """The files written, in the registry's order; the contact sheet first."""

    written: tuple[Path, ...]

    @property
    def html(self) -> Path:
        return self.written[0]

    def __getitem__(self, filename: str) -> Path:
        for path in self.written:
            if path.name == filename:
                return path
        raise KeyError(filename)

    def __contains__(self, filename: object) -> bool:
        return any(path.name == filename for path in self.written)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.written)


def write_reports(
    snapshot: RunSnapshot,
    output_dir: Path,
    *,
    merged: bool = False,
    options: ReportOptions | None = None,
) -> ReportPaths:
    """Write all reports for a snapshot into output_dir and return where they are.

    A merged report (several shard folders) leaves out the formats that describe one folder's own
    files, such as backdrop.lock.
    """
    from runner.report.formats import WRITERS

    output_dir = Path(os.path.abspath(output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    thumbs, source_thumbs = prepare_thumbnails(snapshot, output_dir)
    context = ReportContext(output_dir, thumbs, source_thumbs, options or ReportOptions())
    written = []
    for writer in WRITERS:
        if merged and not writer.in_merged_report:
            continue
        path = output_dir / writer.filename
        write_atomic(path, writer.render(snapshot, context))
        written.append(path)
    return ReportPaths(tuple(written))


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
