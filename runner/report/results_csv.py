"""results.csv: one row per output image (one row with empty file columns for a job without any),
with the job's status in the folder and when its images were generated (content.py), never the
latest run's doings: a re-run that changes nothing writes the same bytes.

UTF-8 with a byte-order mark, so that Excel reads accents and CJK correctly; CRLF line ends as
RFC 4180 says. The separator is a comma unless `--csv-separator` says otherwise (French and
German Excel expect semicolons). Matrix values are flattened: a mapping value gets one column
per field (`market.code`, `market.country`), axes first in recipe order, then keys that
`include` entries added. A matrix column whose name clashes with a fixed column is prefixed
`matrix.`.

Every cell that starts with = + - @ tab or carriage return (or their full-width forms) gets a
leading apostrophe, as OWASP advises, so that a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from runner.records.run_records import JobRecord, RunSnapshot
from runner.report.axis_values import flatten_value
from runner.report.content import folder_content, iso_utc
from runner.report.context import ReportContext

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
LEADING = ("job_key", "label", "status")
TRAILING = (
    "prompt",
    "size",
    "quality",
    "format",
    "image_number",
    "output_path",
    "sha256",
    "width",
    "height",
    "bytes",
    "error",
    "take",
    "generated_at",
)


class CsvReport:
    filename = "results.csv"
    in_merged_report = True

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_results_csv(snapshot, separator=context.options.csv_separator)


def neutralise(cell: str) -> str:
    """Make a cell inert in spreadsheets: '=HYPERLINK(...)' becomes "'=HYPERLINK(...)"."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def render_results_csv(snapshot: RunSnapshot, *, separator: str = ",") -> bytes:
    jobs = sorted(snapshot.jobs, key=lambda job: job.index)
    generated = folder_content(snapshot).generated
    flattened = [_flatten_vars(job.vars, snapshot.axes) for job in jobs]
    matrix_columns = list(dict.fromkeys(name for row in flattened for name in row))
    fixed = set(LEADING) | set(TRAILING)
    headers = [f"matrix.{name}" if name in fixed else name for name in matrix_columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in (*LEADING, *headers, *TRAILING)])
    for job, values in zip(jobs, flattened, strict=True):
        matrix = [values.get(name, "") for name in matrix_columns]
        when = iso_utc(generated[job.key].at) or ""
        for tail in _file_rows(job):
            row = [job.key, job.label, job.shown_status, *matrix, *tail, str(job.take), when]
            writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def _flatten_vars(vars: Mapping[str, Any], axes: tuple[str, ...]) -> dict[str, str]:
    ordered = [name for name in axes if name in vars] + [n for n in vars if n not in axes]
    out: dict[str, str] = {}
    for name in ordered:
        out.update(flatten_value(name, vars[name]))
    return out


def _file_rows(job: JobRecord) -> list[list[str]]:
    po = job.prompt_object
    common = [str(po.get(field, "")) for field in ("prompt", "size", "quality", "output_format")]
    error = job.error or ""
    if not job.files:
        return [[*common, "", "", "", "", "", "", error]]
    return [
        [
            *common,
            str(number),
            record.path,
            record.sha256,
            str(record.width),
            str(record.height),
            str(record.bytes),
            error,
        ]
        for number, record in enumerate(job.files, start=1)
    ]
