"""manifest.csv: one row per delivered file, Excel-friendly like results.csv.

UTF-8 with a byte-order mark, CRLF line ends, cells that a spreadsheet would run as formulas
neutralised; `;` as separator on request, for Excel set to French or German.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from runner.report.axis_values import flatten_value
from runner.report.results_csv import neutralise

SEPARATORS = (",", ";")
LEADING = ("file", "zip", "channel", "width", "height", "sha256")
TRAILING = ("job_key", "take", "variant", "source_output", "source_sha256", "prompt")


@dataclass(frozen=True)
class ManifestRow:
    file: str  # inside the export folder (or inside the zip)
    zip: str  # the zip holding it, or ""
    channel: str
    width: int
    height: int
    sha256: str
    matrix: tuple[tuple[str, object], ...]  # (axis, value) in recipe order
    job_key: str
    take: int
    variant: int
    source_output: str
    source_sha256: str
    prompt: str


def render_manifest(rows: Sequence[ManifestRow], separator: str = ",") -> bytes:
    flattened = [
        [pair for name, value in row.matrix for pair in flatten_value(name, value)] for row in rows
    ]
    columns = list(dict.fromkeys(name for pairs in flattened for name, _ in pairs))
    fixed = set(LEADING) | set(TRAILING)
    headers = [f"matrix.{name}" if name in fixed else name for name in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in (*LEADING, *headers, *TRAILING)])
    for row, pairs in zip(rows, flattened, strict=True):
        values = dict(pairs)
        cells = [
            row.file,
            row.zip,
            row.channel,
            str(row.width),
            str(row.height),
            row.sha256,
            *(values.get(name, "") for name in columns),
            row.job_key,
            str(row.take),
            str(row.variant),
            row.source_output,
            row.source_sha256,
            row.prompt,
        ]
        writer.writerow([neutralise(cell) for cell in cells])
    return buffer.getvalue().encode("utf-8-sig")
