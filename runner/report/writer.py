"""Write every registered report (formats.py) into the output folder, each atomically, plus the
thumbnails the contact sheet shows.

A report whose content has not changed is not written at all: the reports describe the folder,
so a re-run that changes nothing leaves every file as it was, its modification time included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runner.execute.thumbs import Thumb, ThumbRequest, build_thumbnails
from runner.fileio import write_if_changed
from runner.records.lockfile import sha256_of
from runner.records.run_records import RunSnapshot
from runner.report.context import ReportContext, ReportOptions
from runner.report.lock_report import with_lock_generations


@dataclass(frozen=True)
class ReportPaths:
    """The report files, in the registry's order; the contact sheet first."""

    written: tuple[Path, ...]  # every report, rewritten or already up to date
    unchanged: tuple[Path, ...] = ()  # of them, those that already held the same bytes

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
    files, such as backdrop.lock; its snapshot brings every shard's lock generations along
    (with_lock_generations), as this folder's own are added here otherwise.
    """
    from runner.report.formats import WRITERS

    output_dir = Path(os.path.abspath(output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    if not merged:
        snapshot = with_lock_generations(snapshot, output_dir)
    thumbs, source_thumbs = prepare_thumbnails(snapshot, output_dir)
    context = ReportContext(output_dir, thumbs, source_thumbs, options or ReportOptions())
    written, unchanged = [], []
    for writer in WRITERS:
        if merged and not writer.in_merged_report:
            continue
        path = output_dir / writer.filename
        if not write_if_changed(path, writer.render(snapshot, context)):
            unchanged.append(path)
        written.append(path)
    return ReportPaths(tuple(written), tuple(unchanged))


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
