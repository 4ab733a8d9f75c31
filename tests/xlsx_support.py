"""Real .xlsx workbooks for tests, written with openpyxl.

openpyxl writes formulas without computing them (an empty `<v/>` and a workbook that asks to be
computed on opening). `cached` gives a formula the value Excel would have saved with it: the
cell's XML then holds `<v>value</v>`, and the workbook's calcPr is Excel's own (no
fullCalcOnLoad), byte for byte the shape Excel writes.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Rows = Sequence[Sequence[Any]]
EXCEL_ERRORS = ("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!")


def write_workbook(
    path: Path,
    sheets: Mapping[str, Rows],
    *,
    formats: Mapping[tuple[str, str], str] | None = None,
    cached: Mapping[tuple[str, str], Any] | None = None,
    merges: Mapping[str, Sequence[str]] | None = None,
    hidden: Sequence[str] = (),
    excel_saved: bool | None = None,
) -> Path:
    """Write `sheets` (name -> rows of values; None is an empty cell) to `path`."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        for cell_range in (merges or {}).get(name, ()):
            sheet.merge_cells(cell_range)
        if name in hidden:
            sheet.sheet_state = "hidden"
    for (name, ref), number_format in (formats or {}).items():
        book[name][ref].number_format = number_format
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    if cached or excel_saved:
        data = _as_excel_saved(data, list(sheets), cached or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _as_excel_saved(data: bytes, names: list[str], cached: Mapping[tuple[str, str], Any]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            part = source.read(entry.filename)
            if entry.filename == "xl/workbook.xml":
                part = part.replace(b' fullCalcOnLoad="1"', b"")
            for (name, ref), value in cached.items():
                if entry.filename == f"xl/worksheets/sheet{names.index(name) + 1}.xml":
                    part = _with_cached(part, ref, value)
            target.writestr(entry, part)
    return out.getvalue()


def _with_cached(xml: bytes, ref: str, value: Any) -> bytes:
    pattern = re.compile(
        rb'<c r="' + ref.encode() + rb'"([^>]*)><f>(.*?)</f>(?:<v\s*/>|<v></v>)</c>'
    )
    kind = b' t="b"' if isinstance(value, bool) else b""
    if isinstance(value, str):
        kind = b' t="e"' if value in EXCEL_ERRORS else b' t="str"'
    text = str(int(value) if isinstance(value, bool) else value).encode()
    replaced, count = pattern.subn(
        lambda m: (
            b'<c r="'
            + ref.encode()
            + b'"'
            + m[1]
            + kind
            + b"><f>"
            + m[2]
            + b"</f><v>"
            + text
            + b"</v></c>"
        ),
        xml,
    )
    assert count == 1, f"no formula cell {ref} to give a value"
    return replaced
