"""Time of reading an {xlsx: ...} axis: 1,000 and 10,000 rows of 10 columns, with and without
formulas, and a sheet that claims the whole grid (A1:XFD1048576).

The workbooks are written with openpyxl in a temporary folder (shared strings, as Excel writes
them, formulas given a saved value as Excel would); the time is
runner.plan.workbook.read_sheet's (zip checks, openpyxl's read-only parse, the formula scan).

Run: .venv/bin/python bench/bench_xlsx.py [--rows 1000,10000]
"""

from __future__ import annotations

import argparse
import datetime
import io
import tempfile
import time
import zipfile
from pathlib import Path

from runner.plan.workbook import read_sheet

COLUMNS = 10


def write(path: Path, rows: int, *, formulas: bool) -> bytes:
    from openpyxl import Workbook

    book = Workbook()  # not write_only: shared strings and a <dimension>, as Excel writes
    book.remove(book.worksheets[0])
    sheet = book.create_sheet("Markets")
    sheet.append([f"col{i}" for i in range(COLUMNS)])
    day = datetime.date(2025, 3, 1)
    for row in range(2, rows + 2):
        cells: list[object] = [f"code-{row}", f"a setting for row {row}", row, row * 1.5, day]
        cells += [f"text {row} {i}" for i in range(COLUMNS - len(cells) - 1)]
        cells.append(f"=C{row}*2" if formulas else row * 2)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    if formulas:
        data = _with_cached_values(data)
    path.write_bytes(data)
    return data


def _with_cached_values(data: bytes) -> bytes:
    """Give every formula a saved value (as Excel would), so that the sheet reads cleanly."""
    import re

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            part = source.read(entry.filename)
            if entry.filename.startswith("xl/worksheets/"):
                part = re.sub(rb"<f>C(\d+)\*2</f><v\s*/>", rb"<f>C\1*2</f><v>2</v>", part)
            if entry.filename == "xl/workbook.xml":
                part = part.replace(b' fullCalcOnLoad="1"', b"")
            target.writestr(entry, part)
    return out.getvalue()


def claim_whole_grid(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            part = source.read(entry.filename)
            if entry.filename.startswith("xl/worksheets/"):
                part = part.replace(b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>')
            target.writestr(entry, part)
    return out.getvalue()


def measure(label: str, data: bytes) -> None:
    start = time.perf_counter()
    cpu = time.process_time()
    table, problems = read_sheet(data, "bench.xlsx", None)
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    rows = len(table.rows) if table else 0
    errors = [p.message for p in problems if p.severity == "error"]
    print(f"| {label} | {len(data) / 1024:,.0f} KiB | {rows:,} | {wall:.2f} | {used:.2f} |")
    assert not errors, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,10000")
    sizes = [int(n) for n in parser.parse_args().rows.split(",")]
    print("| workbook | size | rows read | wall s | CPU s |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for rows in sizes:
            plain = write(Path(folder) / f"plain{rows}.xlsx", rows, formulas=False)
            measure(f"{rows:,} rows x {COLUMNS}", plain)
            measure(
                f"{rows:,} rows x {COLUMNS}, one formula per row",
                write(Path(folder) / f"f{rows}.xlsx", rows, formulas=True),
            )
            measure(f"{rows:,} rows x {COLUMNS}, claiming A1:XFD1048576", claim_whole_grid(plain))


if __name__ == "__main__":
    main()
