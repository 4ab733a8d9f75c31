"""What the contact sheet shows, as plain frozen values for templates/report.html.j2.

The template only loops and prints; every decision (labels, links, captions, details) is made
here, where it is typed and testable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from runner.execute.kept_takes import earlier_take_files
from runner.execute.thumbs import Thumb
from runner.records.run_records import JobRecord, RunSnapshot
from runner.report.axis_values import axis_label, readable_pairs, value_identity
from runner.report.content import Generated, folder_content
from runner.report.grid import AxisValues, ContactSheet, SourceGroup, layout_sheet
from runner.report.paths import shown_recipe_path

STATUS_NAMES = {
    "done": "Done",
    "failed": "Failed",
    "pending": "Not run yet",
}
STATUSES = ("done", "failed", "pending")
# promptObject fields the details list once, after the matrix values (an `include` may set them).
SHOWN_FIELDS = ("size", "quality", "n", "output_format")


def href(path: str) -> str:
    """A relative POSIX path as a link: percent-encoded, so ':' '#' '?' stay literal."""
    return quote(path, safe="/")


@dataclass(frozen=True)
class ThumbView:
    href: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageView:
    href: str
    thumb: ThumbView | None  # None: the file is missing or unreadable
    alt: str


@dataclass(frozen=True)
class JobView:
    status: str
    values: str  # the job's value index on every axis, for the filter script
    label: str
    images: tuple[ImageView, ...]
    no_image: str
    error: str | None
    caption: str  # the axes that vary in the group but are neither rows nor columns
    details: tuple[tuple[str, str], ...]
    previous: tuple[tuple[str, str], ...] = ()  # (link, name) of the previous take's kept images


@dataclass(frozen=True)
class CellView:
    column: int
    jobs: tuple[JobView, ...]


@dataclass(frozen=True)
class RowView:
    label: str | None
    cells: tuple[CellView, ...]


@dataclass(frozen=True)
class ColumnView:
    index: int
    label: str


@dataclass(frozen=True)
class GroupView:
    ref: str
    source_link: str | None  # a local original, relative to the report
    source_thumb: ThumbView | None
    web_link: str | None  # an https original: linked, never embedded
    flat: bool
    jobs: tuple[JobView, ...]  # a flat sheet
    corner: str | None
    columns: tuple[ColumnView, ...]
    rows: tuple[RowView, ...]


@dataclass(frozen=True)
class StatusCount:
    key: str
    name: str
    count: int


@dataclass(frozen=True)
class AxisFilter:
    index: int
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class PageView:
    recipe_name: str
    updated: str | None  # when the folder's latest generation was made; None: none is
    cost: str
    maybe_charged: str | None  # None: nothing is maybe charged
    recipe_path: str
    jobs: int
    images: int
    total_statuses: tuple[StatusCount, ...]
    filter_statuses: tuple[StatusCount, ...]
    filter_axes: tuple[AxisFilter, ...]
    groups: tuple[GroupView, ...]


def build_page(
    snapshot: RunSnapshot,
    output_dir: Path,
    thumbs: Mapping[str, Thumb | None],
    source_thumbs: Mapping[str, Thumb | None],
) -> PageView:
    sheet = layout_sheet(snapshot)
    totals = snapshot.totals()
    content = folder_content(snapshot)

    def status(key: str) -> StatusCount:
        return StatusCount(key, STATUS_NAMES[key], totals[key])

    builder = _Groups(sheet, output_dir, thumbs, source_thumbs, content.generated)
    return PageView(
        recipe_name=snapshot.recipe_name,
        updated=_when(content.updated_at),
        cost=_usd(content.cost_usd),
        maybe_charged=_usd(content.maybe_charged_usd) if content.maybe_charged_usd else None,
        recipe_path=shown_recipe_path(snapshot.recipe_path, output_dir),
        jobs=totals["jobs"],
        images=totals["images"],
        total_statuses=tuple(status(s) for s in STATUSES if totals[s] or s in ("done", "failed")),
        filter_statuses=tuple(status(s) for s in STATUSES if totals[s]),
        filter_axes=tuple(
            AxisFilter(index, axis.name, axis.labels)
            for index, axis in enumerate(sheet.axes)
            if len(axis.labels) >= 2
        ),
        groups=tuple(builder.group(group) for group in sheet.groups),
    )


class _Groups:
    def __init__(
        self,
        sheet: ContactSheet,
        output_dir: Path,
        thumbs: Mapping[str, Thumb | None],
        source_thumbs: Mapping[str, Thumb | None],
        generated: Mapping[str, Generated],
    ) -> None:
        self.sheet = sheet
        self.output_dir = output_dir
        self.thumbs = thumbs
        self.source_thumbs = source_thumbs
        self.generated = generated
        shown = {a.name for a in (sheet.row_axis, sheet.column_axis) if a is not None}
        self.other_axes = [a.name for a in sheet.axes if a.name not in shown]

    def group(self, group: SourceGroup) -> GroupView:
        captioned = [
            name
            for name in self.other_axes
            if len({value_identity(job.vars, name) for job in group.jobs}) > 1
        ]
        local = group.kind == "file" and bool(group.path)
        rows_axis, columns_axis = self.sheet.row_axis, self.sheet.column_axis
        flat = self.sheet.flat
        corner = None
        if rows_axis is not None:
            corner = rows_axis.name + (f" \\ {columns_axis.name}" if columns_axis else "")
        return GroupView(
            ref=group.ref,
            source_link=_relative_link(group.path, self.output_dir)
            if local and group.path
            else None,
            source_thumb=_thumb(self.source_thumbs.get(group.path)) if group.path else None,
            web_link=group.ref
            if group.kind == "url" and group.ref.startswith("https://")
            else None,
            flat=flat,
            jobs=tuple(self.job(job, captioned) for job in group.jobs) if flat else (),
            corner=corner,
            columns=tuple(ColumnView(c, _label(columns_axis, c)) for c in group.columns),
            rows=()
            if flat
            else tuple(
                RowView(
                    None if rows_axis is None else _label(rows_axis, row),
                    tuple(
                        CellView(
                            column,
                            tuple(
                                self.job(job, captioned)
                                for job in group.cells.get((row, column), ())
                            ),
                        )
                        for column in group.columns
                    ),
                )
                for row in group.rows
            ),
        )

    def job(self, job: JobRecord, captioned: list[str]) -> JobView:
        status = job.shown_status
        count = len(job.files)
        others = [f"{name}={axis_label(job.vars, name)}" for name in captioned if name in job.vars]
        previous: tuple[tuple[str, str], ...] = ()
        if job.take > 1:
            others.append(f"take {job.take}")
            kept = earlier_take_files(self.output_dir, job.outputs, job.take - 1)
            previous = tuple(
                (href(path), f"take {job.take - 1}, image {number}")
                for number, path in enumerate(kept, start=1)
            )
        return JobView(
            status=status,
            values=" ".join(str(axis.index(job)) for axis in self.sheet.axes),
            label=job.label,
            images=tuple(
                ImageView(
                    href(record.path),
                    _thumb(self.thumbs.get(record.sha256)),
                    f"{job.label} (image {number} of {count})",
                )
                for number, record in enumerate(job.files, start=1)
            ),
            no_image={"failed": "no image", "pending": "not run yet"}.get(
                status, "no image recorded"
            ),
            error=job.error,
            caption=" ".join(others),
            details=details(job, status, self.generated[job.key]),
            previous=previous,
        )


def details(job: JobRecord, status: str, generated: Generated) -> tuple[tuple[str, str], ...]:
    """The job's details as readable `name: value` pairs, each value once."""
    rows = [("Status", STATUS_NAMES.get(status, status))]
    if job.take > 1:
        rows.append(("Take", str(job.take)))
    rows.append(("Prompt", str(job.prompt_object.get("prompt", ""))))
    for name, value in job.vars.items():
        if name in SHOWN_FIELDS and name in job.prompt_object:
            continue  # an `include` set a promptObject field: it is listed below, once
        rows.extend(readable_pairs(name, value))
    for field in SHOWN_FIELDS:
        if field in job.prompt_object:
            rows.append((field, str(job.prompt_object[field])))
    if generated.at is not None:
        rows.append(("Generated", _when(generated.at) or ""))
    rows.extend((f"Image {i}", record.path) for i, record in enumerate(job.files, start=1))
    rows.append(("Job key", job.key))
    if generated.record:
        rows.append(("Record", generated.record))
    return tuple(rows)


def _thumb(thumb: Thumb | None) -> ThumbView | None:
    return None if thumb is None else ThumbView(href(thumb.path), thumb.width, thumb.height)


def _label(axis: AxisValues | None, index: int) -> str:
    return axis.labels[index] if axis is not None else ""


def _relative_link(path: str, output_dir: Path) -> str:
    try:
        relative = os.path.relpath(path, output_dir)
    except ValueError:  # another drive on Windows
        return Path(path).as_uri()
    return href(Path(relative).as_posix())


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _usd(amount: float) -> str:
    if 0 < amount < 0.01:
        return "under $0.01"
    return f"${amount:,.2f}"
