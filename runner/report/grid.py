"""The contact sheet's layout: one grid per source image, rows and columns along two axes.

Rows and columns come from the recipe's `report: {rows, columns}`. Without them, the first two
axes that vary within a source image are used (an axis that only picks the image, such as a
product with its own photo, would make a grid of one row), then any remaining axes. With one
axis there is a single row; with no axes at all the jobs form a flat list. When more than two
axes are in play, a cell holds every job that shares its row and column value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from runner.records.run_records import JobRecord, RunSnapshot
from runner.report.axis_values import axis_label, value_identity


@dataclass(frozen=True)
class AxisValues:
    """One axis and its distinct values, in the order they first appear in the plan."""

    name: str
    identities: tuple[str, ...]
    labels: tuple[str, ...]
    positions: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.positions.update((identity, i) for i, identity in enumerate(self.identities))

    def index(self, job: JobRecord) -> int:
        return self.positions[value_identity(job.vars, self.name)]


@dataclass(frozen=True)
class SourceGroup:
    """The jobs that share one source image."""

    kind: str  # "file", "url" or "asset"
    ref: str  # as rendered in the recipe
    path: str | None  # absolute path of a local file
    rows: tuple[int, ...]  # indexes into the row axis' values present here ((0,) without one)
    columns: tuple[int, ...]
    cells: dict[tuple[int, int], tuple[JobRecord, ...]]
    jobs: tuple[JobRecord, ...]


@dataclass(frozen=True)
class ContactSheet:
    axes: tuple[AxisValues, ...]  # every axis, for the filters
    row_axis: AxisValues | None
    column_axis: AxisValues | None
    groups: tuple[SourceGroup, ...]

    @property
    def flat(self) -> bool:
        return self.row_axis is None and self.column_axis is None


def layout_sheet(snapshot: RunSnapshot) -> ContactSheet:
    jobs = sorted(snapshot.jobs, key=lambda job: job.index)
    axes = tuple(_axis_values(name, jobs) for name in snapshot.axes)
    by_name = {axis.name: axis for axis in axes}
    by_source = _group_by_source(jobs)
    rows_name, columns_name = _choose_axes(snapshot, by_source)
    row_axis = by_name.get(rows_name) if rows_name else None
    column_axis = by_name.get(columns_name) if columns_name else None
    groups = tuple(_group(members, row_axis, column_axis) for members in by_source)
    return ContactSheet(axes, row_axis, column_axis, groups)


def _axis_values(name: str, jobs: Iterable[JobRecord]) -> AxisValues:
    seen: dict[str, str] = {}
    for job in jobs:
        identity = value_identity(job.vars, name)
        if identity not in seen:
            seen[identity] = axis_label(job.vars, name)
    return AxisValues(name, tuple(seen), tuple(seen.values()))


def _source_key(job: JobRecord) -> tuple[str, str]:
    return (job.image_kind, job.image_path or job.image_ref)


def _group_by_source(jobs: Sequence[JobRecord]) -> list[tuple[JobRecord, ...]]:
    groups: dict[tuple[str, str], list[JobRecord]] = {}
    for job in jobs:
        groups.setdefault(_source_key(job), []).append(job)
    return [tuple(members) for members in groups.values()]


def _choose_axes(
    snapshot: RunSnapshot, groups: Sequence[Sequence[JobRecord]]
) -> tuple[str | None, str | None]:
    axes = list(snapshot.axes)
    varying = [name for name in axes if _varies_within_a_group(name, groups)]
    candidates = varying + [name for name in axes if name not in varying]
    rows = snapshot.report_rows if snapshot.report_rows in axes else None
    columns = snapshot.report_columns if snapshot.report_columns in axes else None
    if rows is not None and rows == columns:
        columns = None
    free = [name for name in candidates if name not in (rows, columns)]
    if rows is None and columns is None:
        # One axis alone goes along the columns: a single row reads best.
        if len(free) >= 2:
            rows = free.pop(0)
        columns = free.pop(0) if free else None
    elif rows is None:
        rows = free.pop(0) if free else None
    elif columns is None:
        columns = free.pop(0) if free else None
    return rows, columns


def _varies_within_a_group(axis: str, groups: Sequence[Sequence[JobRecord]]) -> bool:
    return any(len({value_identity(job.vars, axis) for job in group}) > 1 for group in groups)


def _group(
    jobs: tuple[JobRecord, ...], row_axis: AxisValues | None, column_axis: AxisValues | None
) -> SourceGroup:
    cells: dict[tuple[int, int], list[JobRecord]] = {}
    for job in jobs:
        row = row_axis.index(job) if row_axis else 0
        column = column_axis.index(job) if column_axis else 0
        cells.setdefault((row, column), []).append(job)
    rows = tuple(sorted({row for row, _ in cells}))
    columns = tuple(sorted({column for _, column in cells}))
    first = jobs[0]
    return SourceGroup(
        kind=first.image_kind,
        ref=first.image_ref,
        path=first.image_path,
        rows=rows,
        columns=columns,
        cells={position: tuple(members) for position, members in cells.items()},
        jobs=jobs,
    )
