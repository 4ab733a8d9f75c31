"""report.html: a contact sheet that opens from disk, with no server and no network.

Every value that comes from a recipe (names, prompts, matrix values, paths, error messages) goes
through `esc`, in text and in attributes alike. The page carries no recipe data for scripts: the
filters work on small integer indexes, and a Content-Security-Policy only lets the page's own
inline script and style run, as a second line of defence.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from runner.execute.records import JobRecord, RunSnapshot
from runner.report.axis_values import axis_label, value_identity, value_text
from runner.report.grid import AxisValues, ContactSheet, SourceGroup, layout_sheet
from runner.report.thumbs import Thumb

STATUS_NAMES = {
    "done": "Done",
    "skipped": "Skipped (done earlier)",
    "failed": "Failed",
    "pending": "Not run yet",
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def href(path: str) -> str:
    """A relative POSIX path as an escaped link: percent-encoded, so ':' '#' '?' stay literal."""
    return esc(quote(path, safe="/"))


@dataclass(frozen=True)
class HtmlInputs:
    output_dir: Path
    thumbs: Mapping[str, Thumb | None]  # by file sha256
    source_thumbs: Mapping[str, Thumb | None]  # by absolute path of a local source image


def render_html(snapshot: RunSnapshot, inputs: HtmlInputs) -> str:
    sheet = layout_sheet(snapshot)
    style = _asset("report.css")
    script = _asset("report.js")
    parts = [
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_csp(style, script))}">\n',
        f"<title>{esc(snapshot.recipe_name)} · Backdrop report</title>\n",
        f"<style>{style}</style>\n</head>\n<body>\n",
    ]
    parts.append(_header(snapshot, sheet))
    parts.append("<main>\n")
    page = _Page(snapshot, sheet, inputs)
    for group in sheet.groups:
        page.group(group, parts)
    if not snapshot.jobs:
        parts.append("<p>This run has no jobs.</p>\n")
    parts.append(f"</main>\n<script>{script}</script>\n</body>\n</html>\n")
    return "".join(parts)


def _asset(name: str) -> str:
    return resources.files("runner.report").joinpath("assets", name).read_text(encoding="utf-8")


def _csp(style: str, script: str) -> str:
    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")

    return (
        "default-src 'none'; img-src 'self' file: data:; "
        f"style-src 'sha256-{digest(style)}'; script-src 'sha256-{digest(script)}'; "
        "base-uri 'none'; form-action 'none'"
    )


def _header(snapshot: RunSnapshot, sheet: ContactSheet) -> str:
    totals = snapshot.totals()
    meta = [
        f"Run {esc(_when(snapshot.started_at))}",
        f"took {esc(_took(snapshot.started_at, snapshot.finished_at))}",
        f"estimated cost {esc(_usd(snapshot.estimated_cost_usd))} (an estimate at list prices)",
        f"recipe <code>{esc(snapshot.recipe_path)}</code>",
        f"backdrop {esc(snapshot.tool_version)}",
    ]
    items = [f"<li>{totals['jobs']} jobs</li>"]
    for status in ("done", "skipped", "failed", "pending"):
        if totals[status] or status in ("done", "failed"):
            name = STATUS_NAMES[status].lower()
            items.append(f'<li class="{status}">{totals[status]} {name}</li>')
    items.append(f"<li>{totals['images']} images</li>")
    return (
        f"<header>\n<h1>{esc(snapshot.recipe_name)}</h1>\n"
        f'<p class="meta">{" · ".join(meta)}</p>\n'
        f'<ul class="totals">{"".join(items)}</ul>\n'
        f"{_filters(snapshot, sheet)}"
        '<p id="showing" aria-live="polite"></p>\n</header>\n'
    )


def _filters(snapshot: RunSnapshot, sheet: ContactSheet) -> str:
    totals = snapshot.totals()
    buttons = ['<button type="button" data-value="all" aria-pressed="true">All</button>']
    for status in ("done", "skipped", "failed", "pending"):
        if totals[status]:
            buttons.append(
                f'<button type="button" data-value="{status}" aria-pressed="false">'
                f"{STATUS_NAMES[status]} ({totals[status]})</button>"
            )
    rows = [
        f'<div class="filter-row" data-filter="status"><span>Status</span>{"".join(buttons)}</div>'
    ]
    for axis_index, axis in enumerate(sheet.axes):
        if len(axis.labels) < 2:
            continue
        values = ['<button type="button" data-value="all" aria-pressed="true">All</button>']
        values.extend(
            f'<button type="button" data-value="{i}" aria-pressed="false">{esc(label)}</button>'
            for i, label in enumerate(axis.labels)
        )
        rows.append(
            f'<div class="filter-row" data-filter="axis" data-axis="{axis_index}">'
            f"<span>{esc(axis.name)}</span>{''.join(values)}</div>"
        )
    body = "\n".join(rows)
    return f'<nav id="filters" class="filters" aria-label="Filters" hidden>\n{body}\n</nav>\n'


class _Page:
    """Renders the groups; keeps what every cell needs at hand."""

    def __init__(self, snapshot: RunSnapshot, sheet: ContactSheet, inputs: HtmlInputs) -> None:
        self.sheet = sheet
        self.inputs = inputs
        self.axes = sheet.axes
        shown = {a.name for a in (sheet.row_axis, sheet.column_axis) if a is not None}
        self.other_axes = [a.name for a in sheet.axes if a.name not in shown]
        self.captioned: list[str] = []  # the other axes that vary in the current group

    def group(self, group: SourceGroup, parts: list[str]) -> None:
        self.captioned = [
            name
            for name in self.other_axes
            if len({value_identity(job.vars, name) for job in group.jobs}) > 1
        ]
        parts.append('<section class="group">\n')
        parts.append(f"<h2>Source image: {esc(group.ref)}</h2>\n")
        parts.append('<div class="group-body">\n')
        parts.append(self.source(group))
        if self.sheet.flat:
            parts.append('<div class="flat">')
            for job in group.jobs:
                self.job(job, parts)
            parts.append("</div>\n")
        else:
            self.table(group, parts)
        parts.append("</div>\n</section>\n")

    def source(self, group: SourceGroup) -> str:
        if group.kind == "file" and group.path:
            link = _relative_link(group.path, self.inputs.output_dir)
            thumb = self.inputs.source_thumbs.get(group.path)
            inner = (
                f'<img src="{href(thumb.path)}" width="{thumb.width}" height="{thumb.height}" '
                f'alt="Original image">'
                if thumb
                else '<span class="placeholder">original not found</span>'
            )
            return (
                f'<figure class="source"><a href="{link}">{inner}</a>'
                f"<figcaption>Original</figcaption></figure>\n"
            )
        if group.kind == "url" and group.ref.startswith("https://"):
            # Linked, not embedded: the page must not reach the network by itself.
            return (
                f'<figure class="source"><a class="placeholder" href="{esc(group.ref)}" '
                f'rel="noreferrer">Original on the web</a></figure>\n'
            )
        return (
            '<figure class="source"><span class="placeholder">Original: 1min.ai asset</span>'
            f"<figcaption>{esc(group.ref)}</figcaption></figure>\n"
        )

    def table(self, group: SourceGroup, parts: list[str]) -> None:
        rows_axis, columns_axis = self.sheet.row_axis, self.sheet.column_axis
        parts.append('<div class="grid-wrap"><table class="grid">\n<thead><tr>')
        if rows_axis is not None:
            corner = rows_axis.name + (f" \\ {columns_axis.name}" if columns_axis else "")
            parts.append(f'<th class="corner">{esc(corner)}</th>')
        for column in group.columns:
            parts.append(f'<th data-col="{column}">{esc(_label(columns_axis, column))}</th>')
        parts.append("</tr></thead>\n<tbody>\n")
        for row in group.rows:
            parts.append("<tr>")
            if rows_axis is not None:
                parts.append(f'<th scope="row">{esc(_label(rows_axis, row))}</th>')
            for column in group.columns:
                parts.append(f'<td data-col="{column}">')
                for job in group.cells.get((row, column), ()):
                    self.job(job, parts)
                parts.append("</td>")
            parts.append("</tr>\n")
        parts.append("</tbody></table></div>\n")

    def job(self, job: JobRecord, parts: list[str]) -> None:
        status = job.shown_status
        values = " ".join(str(axis.index(job)) for axis in self.axes)
        parts.append(
            f'<div class="job {status}" data-status="{status}" data-values="{values}" '
            f'title="{esc(job.label)}">'
        )
        parts.append(self.images(job, status))
        if job.error:
            parts.append(f'<p class="error">{esc(job.error)}</p>')
        others = [
            f"{name}={axis_label(job.vars, name)}" for name in self.captioned if name in job.vars
        ]
        if job.take > 1:
            others.append(f"take {job.take}")
        if others:
            parts.append(f'<p class="sub">{esc(" ".join(others))}</p>')
        parts.append(self.details(job, status))
        parts.append("</div>\n")

    def images(self, job: JobRecord, status: str) -> str:
        if not job.files:
            note = {"failed": "no image", "pending": "not run yet"}.get(status, "no image recorded")
            return f'<div class="thumbs"><span class="placeholder">{note}</span></div>'
        out = ['<div class="thumbs">']
        count = len(job.files)
        for number, record in enumerate(job.files, start=1):
            alt = esc(f"{job.label} (image {number} of {count})")
            thumb = self.inputs.thumbs.get(record.sha256)
            if thumb is None:
                out.append(f'<a class="placeholder" href="{href(record.path)}">image missing</a>')
                continue
            out.append(
                f'<a href="{href(record.path)}"><img src="{href(thumb.path)}" '
                f'width="{thumb.width}" height="{thumb.height}" loading="lazy" alt="{alt}"></a>'
            )
        out.append("</div>")
        return "".join(out)

    def details(self, job: JobRecord, status: str) -> str:
        rows = [("Status", STATUS_NAMES.get(status, status))]
        if job.take > 1:
            rows.append(("Take", str(job.take)))
        rows.append(("Prompt", str(job.prompt_object.get("prompt", ""))))
        rows.extend((name, value_text(value)) for name, value in job.vars.items())
        for field in ("size", "quality", "n", "output_format"):
            if field in job.prompt_object:
                rows.append((field, str(job.prompt_object[field])))
        rows.append(("Attempts", str(job.attempts)))
        if job.duration_s is not None:
            rows.append(("Duration", f"{job.duration_s:.1f} s"))
        rows.extend((f"Image {i}", record.path) for i, record in enumerate(job.files, start=1))
        rows.append(("Job key", job.key))
        if job.record_uuid:
            rows.append(("Record", job.record_uuid))
        body = "".join(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in rows)
        return f"<details><summary>Details</summary><dl>{body}</dl></details>"


def _label(axis: AxisValues | None, index: int) -> str:
    return axis.labels[index] if axis is not None else ""


def _relative_link(path: str, output_dir: Path) -> str:
    try:
        relative = os.path.relpath(path, output_dir)
    except ValueError:  # another drive on Windows
        return esc(Path(path).as_uri())
    return href(Path(relative).as_posix())


def _when(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.utcoffset() is None:
        return iso
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _took(started: str, finished: str | None) -> str:
    if finished is None:
        return "an unfinished run"
    try:
        delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    except (ValueError, TypeError):
        return "an unknown time"
    seconds = max(0, round(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _usd(amount: float) -> str:
    if 0 < amount < 0.01:
        return "under $0.01"
    return f"${amount:,.2f}"
