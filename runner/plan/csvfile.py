"""Read a CSV axis the way spreadsheet programs really export it: one mapping of strings per row.

Handles UTF-8 (with or without BOM), UTF-16 (Excel "Unicode text"), and the legacy encodings
of older Excel (cp1252, cp1250, cp1251, Shift-JIS...) when their reading is beyond doubt,
comma / semicolon / tab delimiters (and Excel's `sep=;` first line), CRLF, quoted fields with
newlines and blank rows. Values stay the strings people typed: no type guessing.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from runner.diagnostics import Diagnostic, Span
from runner.plan.encodings import read_legacy

DELIMITERS = (",", ";", "\t")
_SEP_LINE = re.compile(r"^\s*sep=(.)\s*$")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass(frozen=True)
class CsvTable:
    rows: tuple[dict[str, str], ...]
    encoding: str
    delimiter: str
    text: str = ""  # the decoded file, for the API-key check
    lines: tuple[int, ...] = ()  # the line each row starts on, to point at its cells


def decode_spreadsheet(data: bytes) -> tuple[str, str]:
    """The text of a spreadsheet export and the encoding it was read with."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(0) * 4 >= len(sample):
        # UTF-16 without a BOM: ASCII text leaves every other byte NUL.
        encoding = "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"
        return data.decode(encoding), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    legacy = read_legacy(data)
    if legacy is None:
        raise UnclearEncoding(data.count(b"\n", 0, first_bad) + 1)
    return legacy


class UnclearEncoding(Exception):
    """The file is not UTF-8 and no single legacy encoding clearly fits it."""

    def __init__(self, line: int) -> None:
        super().__init__(f"not UTF-8 (line {line})")
        self.line = line  # the first line holding a byte that is not UTF-8


def sniff_delimiter(line: str) -> str:
    """The delimiter that splits the header line into the most cells (comma on a tie)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def cell_offsets(line: str, delimiter: str) -> list[tuple[int, int]]:
    """(start, end) of each cell on one physical line, 0-based, quotes respected."""
    cells: list[tuple[int, int]] = []
    start = 0
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            cells.append((start, index))
            start = index + 1
    cells.append((start, len(line)))
    return cells


def read_csv_table(data: bytes, display: str) -> tuple[CsvTable, list[Diagnostic]]:
    """Parse a CSV export; problems point at the file's own lines and columns."""
    try:
        text, encoding = decode_spreadsheet(data)
    except UnclearEncoding as unclear:
        return CsvTable((), "unknown", ","), [_unclear(display, data, unclear.line)]
    except UnicodeDecodeError as exc:
        message = f"this file looks like {exc.encoding.upper()} text but is damaged ({exc.reason})"
        hint = "export it again from the spreadsheet, as CSV UTF-8 if the program offers it"
        at_start = Span(display, 1, 1, 2, "")
        return CsvTable((), exc.encoding, ","), [Diagnostic(message, span=at_start, hint=hint)]
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    problems: list[Diagnostic] = []

    def span(line_no: int, col: int = 0, end: int | None = None) -> Span:
        line_text = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
        stop = len(line_text) if end is None else end
        return Span(display, line_no, col + 1, max(stop, col + 1) + 1, line_text)

    first = next((line for line in lines if line.strip()), "")
    sep_match = _SEP_LINE.match(first)
    delimiter = sep_match.group(1) if sep_match else sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)

    header: list[str] | None = None
    header_line = 0
    records: list[tuple[int, list[str]]] = []
    previous = 0
    try:
        for cells in reader:
            start, previous = previous + 1, reader.line_num
            if sep_match and header is None and not records and cells and "sep=" in cells[0]:
                sep_match = None  # consume Excel's "sep=;" line once
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header, header_line = [header_name(cell) for cell in cells], start
            else:
                records.append((start, cells))
    except csv.Error as exc:
        problems.append(Diagnostic(f"cannot read this CSV file: {exc}", span=span(reader.line_num)))
        return CsvTable((), encoding, delimiter, text), problems

    if records and _quote_left_open(text, delimiter):
        # Read leniently, the opened cell swallowed the rest of the file: say where it opened.
        problems.append(
            Diagnostic(
                "a quote opened on this line is never closed, so the rest of the file is read"
                " as one cell",
                span=span(records[-1][0]),
                hint='close the quote, or write a quote inside a cell as two: ""',
            )
        )
    if header is None:
        return CsvTable((), encoding, delimiter, text), problems
    header_cells = cell_offsets(lines[header_line - 1], delimiter)

    def header_span(column: int) -> Span:
        if column < len(header_cells):
            start, end = header_cells[column]
            return span(header_line, start, end)
        return span(header_line)

    width = _used_width(header, records)
    names = header[:width]
    problems.extend(check_column_names(names, header_span))

    rows: list[dict[str, str]] = []
    row_lines: list[int] = []
    for line_no, cells in records:
        extra = [cell for cell in cells[width:] if cell.strip()]
        if extra:
            offsets = cell_offsets(lines[line_no - 1], delimiter) if line_no <= len(lines) else []
            col, end = offsets[width] if width < len(offsets) else (0, None)
            problems.append(
                Diagnostic(
                    f"this row has {len(cells)} cells but the header names only {width} columns",
                    span=span(line_no, col, end),
                    hint=f"the file is read as {_DELIMITER_NAMES.get(delimiter, delimiter)}-"
                    "separated; quote cells that contain the separator, or add a column name",
                )
            )
            continue
        padded = [*cells[:width], *([""] * (width - len(cells)))]
        rows.append({name: cell.strip() for name, cell in zip(names, padded, strict=True)})
        row_lines.append(line_no)
    return CsvTable(tuple(rows), encoding, delimiter, text, tuple(row_lines)), problems


def header_name(cell: str) -> str:
    """A column's name as its header cell gives it: without surrounding spaces or a BOM."""
    return cell.strip().removeprefix("\ufeff")


def check_column_names(
    names: Sequence[str],
    span_of: Callable[[int], Span],
    label: Callable[[int], str] = lambda column: str(column + 1),
    unchecked: Container[int] = (),
) -> list[Diagnostic]:
    """The header rules of every table (CSV file or sheet): each column named, no name twice.

    Columns are 0-based; `label` names one for people (3, or C in a sheet); `unchecked` columns
    need no name (their problem was said another way).
    """
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for column, name in enumerate(names):
        if not name and column not in unchecked:
            problems.append(
                Diagnostic(
                    f"the header of column {label(column)} is empty",
                    span=span_of(column),
                    hint="give every column a name in the first row",
                )
            )
        elif name in seen:
            problems.append(
                Diagnostic(
                    f"the column name {name!r} is used twice (columns {label(seen[name])} and "
                    f"{label(column)})",
                    span=span_of(column),
                    hint="rename one of the columns so that every name is different",
                )
            )
        elif name:
            seen[name] = column
    return problems


def _used_width(header: list[str], records: list[tuple[int, list[str]]]) -> int:
    """The columns to keep: trailing unnamed columns that are empty everywhere are what
    spreadsheets leave behind. One pass over the cells, each row read from its end down to the
    widest column kept so far: 30,000 trailing empty cells are not rescanned for each other."""
    width = len(header)
    used = next((column + 1 for column in range(width - 1, -1, -1) if header[column]), 0)
    for _, cells in records:
        for column in range(min(len(cells), width) - 1, used - 1, -1):
            if cells[column].strip():
                used = column + 1
                break
    return used


def _quote_left_open(text: str, delimiter: str) -> bool:
    """Does the file end inside a quoted cell? (strict parsing says so; other strict complaints
    are left to the lenient reading)"""
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


# Bytes of a line decoded for a diagnostic's snippet, which shows its first 61 characters
# (diagnostics._window) and "…" after them: the line may be the whole file.
_SNIPPET_BYTES = 8192


def _unclear(display: str, data: bytes, line: int) -> Diagnostic:
    lines = data.split(b"\n", line)  # the lines up to `line`, then the rest of the file
    # A CR decodes as itself, "replace" or not: stripped before or after decoding alike.
    raw = lines[line - 1].rstrip(b"\r") if line <= len(lines) else b""
    shown = raw[:_SNIPPET_BYTES].decode("utf-8", "replace")  # a longer line shows its "…" still
    return Diagnostic(
        f"this file is not UTF-8 text, and its encoding cannot be told for sure (line {line} "
        "is the first that is not UTF-8)",
        span=Span(display, line, 1, 2, shown),
        hint="in the spreadsheet program, save it again as 'CSV UTF-8' (File > Save As), so "
        "that every character reaches the prompt as written",
    )
