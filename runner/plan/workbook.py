"""The {xlsx: FILE, sheet: NAME} axis source: one mapping of text per row of an Excel sheet.

The sheet is read like its CSV export: the first row that is not blank names the columns (with
the CSV header rules), each later row that is not blank is a value, cells are the text Excel
shows (runner/plan/cellvalues.py), and empty trailing rows and columns are ignored. A merged
cell below the header gives its value to every cell it covers, as Excel shows it. Problems name
the cell: `markets.xlsx[Markets]!C7`.

A workbook arrives through pull requests like any data file: it is read confined and capped
(runner/plan/workbook_format.py), in openpyxl's read-only mode, row by row, within a time limit.
"""

from __future__ import annotations

import io
import re
import time
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.apikey import ENV_KEY, KEY_HINT, MASK, searchable_key
from runner.diagnostics import Diagnostic, Span, column_letters, did_you_mean
from runner.plan.axis_source import SourceResult, display_path, read_axis_file, recipe_problem
from runner.plan.cellvalues import cell_text
from runner.plan.csvfile import check_column_names, header_name
from runner.plan.workbook_format import SAVE_AS_XLSX, WorkbookRefusal, open_workbook_zip

if TYPE_CHECKING:
    from runner.recipe.model import Axis, Recipe

MAX_SHEET_ROWS = 10_000  # values, as the glob's cap: the default job cap
MAX_SHEET_COLUMNS = 1_000
XLSX_SECONDS = 10.0  # of processor time: a 10,000-row sheet of 20 columns takes 3 to 5
REOPEN_HINT = "open the workbook in Excel (or LibreOffice Calc) and save it"
_FULL_CALC = re.compile(rb"<(?:\w+:)?calcPr\b[^>]*\bfullCalcOnLoad=\"(?:1|true)\"")
_FORMULA_TAG = re.compile(rb"<((?:\w+:)?)f[\s>/]")
_FORMULA_TEXT = re.compile(rb"<(?:\w+:)?f(?:\s[^>]*)?>([^<]*)<", re.S)
_VALUE = re.compile(rb"<(?:\w+:)?v(?:\s[^>]*)?(?:/>|>([^<]*)<)")
_CELL_REF = re.compile(rb'\sr="([A-Z]{1,3})([0-9]{1,7})"')
_CELL_TYPE = re.compile(rb'\st="([^"]*)"')
_MERGE = re.compile(
    rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})\""
)
_PART_ERRORS = (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError)


@dataclass(frozen=True)
class SheetTable:
    """A sheet's values, and where each one was written."""

    sheet: str
    rows: tuple[dict[str, str], ...]
    row_numbers: tuple[int, ...]  # the sheet row of each value
    columns: dict[str, int]  # column name -> sheet column (1-based)


@dataclass
class _Facts:
    """What the sheet's XML says that openpyxl's values do not."""

    uncached: dict[tuple[int, int], str] = field(default_factory=dict)  # cell -> its formula
    formulas: int = 0
    first_formula: tuple[int, int] | None = None
    # (top, left, bottom, right) of each merged range
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)


class _TooSlow(Exception):
    pass


def load_xlsx(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
    assert axis.source.path is not None
    data, problem = read_axis_file(recipe, axis, axis.source.path, roots)
    if data is None:
        return SourceResult(problems=[problem] if problem else [])
    shown = display_path(recipe, axis.source.path)
    try:
        table, problems = read_sheet(data, shown, axis.source.options.get("sheet"))
    except WorkbookRefusal as refusal:
        node = (*axis.node, "sheet" if refusal.at_sheet else "xlsx")
        what = "the workbook" if refusal.at_sheet else "the file"
        message = f"{what} {shown} {refusal.message}"
        return SourceResult(problems=[recipe_problem(recipe, node, message, refusal.hint)])
    if table is None:
        return SourceResult(problems=problems, file=shown)

    def locate(index: int, name: str | None) -> Span | None:
        return _locate(table, shown, index, name)

    return SourceResult(table.rows, problems, None, shown, locate=locate)


def _locate(table: SheetTable, shown: str, index: int, name: str | None) -> Span | None:
    if not 0 <= index < len(table.rows):
        return None
    column = table.columns.get(name, 1) if name is not None else 1
    text = table.rows[index].get(name, "") if name is not None else ""
    return cell_span(shown, table.sheet, table.row_numbers[index], column, text)


def cell_span(file: str, sheet: str, row: int, column: int, text: str) -> Span:
    return Span(file, row, column, column + 1, text, sheet=sheet)


def read_sheet(
    data: bytes, shown: str, sheet: str | None
) -> tuple[SheetTable | None, list[Diagnostic]]:
    """A sheet's table (None when it has errors) and its problems, which name cells.

    Raises WorkbookRefusal for what concerns the whole file or the sheet's name.
    """
    # Processor time, not wall time: parsing is CPU work, and a busy CI machine must not fail an
    # ordinary workbook that a hostile one of the same size would not.
    deadline = time.process_time() + XLSX_SECONDS
    archive = open_workbook_zip(data)
    with warnings.catch_warnings():
        # openpyxl warns about parts it does not keep (data validation, slicers...): not ours.
        warnings.simplefilter("ignore")
        workbook = _open(data)
        try:
            worksheet = _choose_sheet(workbook, sheet)
            title = str(worksheet.title)
            try:
                facts = _scan(archive, worksheet, deadline)
                reader = _SheetReader(worksheet, shown, title, facts, deadline)
                table, problems = reader.read()
            except _TooSlow:
                raise WorkbookRefusal(
                    f"took more than {XLSX_SECONDS:g} s to read (sheet {title!r})",
                    "keep only the rows and columns the recipe needs, or save it again from "
                    "Excel (a sheet formatted down to its last row is slow to read)",
                ) from None
            except WorkbookRefusal:
                raise
            except Exception:  # openpyxl raises many kinds for damaged XML: all mean "damaged"
                raise WorkbookRefusal(
                    f"is damaged: the sheet {title!r} cannot be read", SAVE_AS_XLSX
                ) from None
        finally:
            workbook.close()
    key = reader.key_cell or _key_problem(archive, shown)
    if key is not None:
        return None, [key]  # alone: no other message may show what is around it
    if facts.formulas and not problems and _full_calc(archive):
        problems.append(_stale_formulas(shown, title, facts))
    return (None if any(p.severity == "error" for p in problems) else table), problems


def _open(data: bytes) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception:  # openpyxl's many exceptions for damaged parts
        raise WorkbookRefusal(
            "is damaged: it holds Excel's parts, but they cannot be read", SAVE_AS_XLSX
        ) from None


def _choose_sheet(workbook: Any, wanted: str | None) -> Any:
    """The sheet named (Excel ignores case in sheet names), else the first visible one."""
    sheets = list(workbook.worksheets)
    names = [str(ws.title) for ws in sheets]
    if wanted is None:
        for ws in sheets:
            if ws.sheet_state == "visible":
                return ws
        raise WorkbookRefusal("has no sheet of cells to read")
    for ws in sheets:
        if str(ws.title).casefold() == wanted.casefold():
            return ws
    charts = [str(name) for name in workbook.sheetnames if name not in names]
    if any(name.casefold() == wanted.casefold() for name in charts):
        raise WorkbookRefusal(f"has a chart, not cells, on the sheet {wanted!r}", None, True)
    listed = [
        name if ws.sheet_state == "visible" else f"{name} (hidden)"
        for name, ws in zip(names, sheets, strict=True)
    ]
    close = did_you_mean(wanted.strip(), names)
    suffix = f" (did you mean {close!r}?)" if close else ""
    raise WorkbookRefusal(
        f"has no sheet named {wanted!r}{suffix}",
        f"its sheets are: {', '.join(listed) or 'none'}",
        True,
    )


def _scan(archive: zipfile.ZipFile, worksheet: Any, deadline: float) -> _Facts:
    """Formulas without a saved value, and merged ranges, from the sheet's own XML.

    openpyxl gives None for an empty cell and for a formula no program computed alike, and an
    empty `<v/>` is a computed empty text only when the cell says t="str" (as Excel writes it).
    """
    facts = _Facts()
    part = worksheet._worksheet_path  # openpyxl's; tests/test_xlsx_axis.py is its canary
    try:
        xml = archive.read(part)
    except _PART_ERRORS:
        raise WorkbookRefusal(
            f"is damaged: the sheet {worksheet.title!r} cannot be read", SAVE_AS_XLSX
        ) from None
    for match in _MERGE.finditer(xml):
        first, top, last, bottom = (group.decode("ascii") for group in match.groups())
        facts.merges.append((int(top), _column(first), int(bottom), _column(last)))
    if _FORMULA_TAG.search(xml) and not _scan_formula_cells(xml, facts):
        facts = _Facts(merges=facts.merges)
        _scan_formulas(xml, facts, deadline)
    return facts


def _scan_formula_cells(xml: bytes, facts: _Facts) -> bool:
    """The formula cells, found from each formula to its cell: a few microseconds per formula,
    where parsing the whole sheet costs that per cell. False (and `facts` to be thrown away) when
    a formula's cell does not give its place (r="B7"): the parse below counts places then."""
    for match in _FORMULA_TAG.finditer(xml):
        prefix = match.group(1)
        start = _cell_start(xml, prefix, match.start())
        end = xml.find(b"</" + prefix + b"c>", match.end())
        head = xml[start : xml.find(b">", start) + 1] if start >= 0 else b""
        place = _CELL_REF.search(head)
        if end < 0 or place is None:
            return False
        row, col = int(place.group(2)), _column(place.group(1).decode("ascii"))
        facts.formulas += 1
        facts.first_formula = facts.first_formula or (row, col)
        value = _VALUE.search(xml, match.end(), end)
        kind = _CELL_TYPE.search(head)
        if value is None or (not value.group(1) and (kind is None or kind.group(1) != b"str")):
            formula = _FORMULA_TEXT.match(xml, match.start(), end)
            text = formula.group(1) if formula else b""
            facts.uncached[(row, col)] = "=" + _unescape(text.decode("utf-8", "replace"))
    return True


def _cell_start(xml: bytes, prefix: bytes, before: int) -> int:
    """Where the cell element holding position `before` opens (not a <col> or <cfRule>)."""
    tag = b"<" + prefix + b"c"
    start = xml.rfind(tag, 0, before)
    while start >= 0 and xml[start + len(tag) : start + len(tag) + 1] not in (
        b" ",
        b">",
        b"\t",
        b"\n",
        b"\r",
    ):
        start = xml.rfind(tag, 0, start)
    return start


def _unescape(text: str) -> str:
    from xml.sax.saxutils import unescape

    return unescape(text, {"&quot;": '"', "&apos;": "'"})


def _scan_formulas(xml: bytes, facts: _Facts, deadline: float) -> None:
    from xml.etree.ElementTree import ParseError, iterparse

    row = col = 0
    try:
        for event, element in iterparse(io.BytesIO(xml), events=("start", "end")):
            tag = element.tag.rpartition("}")[2]
            if event == "start":
                if tag == "row":
                    row, col = int(element.get("r") or row + 1), 0
                continue
            if tag == "row":
                element.clear()
                if time.process_time() > deadline:
                    raise _TooSlow
            if tag != "c":
                continue
            ref = element.get("r")
            col = _column(ref.rstrip("0123456789")) if ref else col + 1
            parts = {child.tag.rpartition("}")[2]: child for child in element}
            if "f" not in parts:
                continue
            facts.formulas += 1
            facts.first_formula = facts.first_formula or (row, col)
            value = parts.get("v")
            if value is None or (not value.text and element.get("t") != "str"):
                facts.uncached[(row, col)] = "=" + (parts["f"].text or "")
    except (ParseError, ValueError):
        pass  # openpyxl reads the same XML next, and says it is damaged


def _column(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - ord("A") + 1
    return number


def _full_calc(archive: zipfile.ZipFile) -> bool:
    """Does the workbook ask to compute every formula again when opened? Programs that write
    formulas without computing them (openpyxl, XlsxWriter) say so; Excel's own saves do not."""
    try:
        return bool(_FULL_CALC.search(archive.read("xl/workbook.xml")))
    except _PART_ERRORS:
        return False


def _key_problem(archive: zipfile.ZipFile, shown: str) -> Diagnostic | None:
    """The API key anywhere in the workbook's text (other sheets' text is in its parts too)."""
    key = searchable_key()
    if key is None:
        return None
    needle = key.encode("utf-8")
    for entry in archive.infolist():
        try:
            found = entry.filename.endswith((".xml", ".rels")) and needle in archive.read(entry)
        except _PART_ERRORS:
            found = False
        if found:
            return Diagnostic(
                f"this workbook contains your API key (the value of {ENV_KEY}), in its part "
                f"{entry.filename}",
                hint=KEY_HINT,
                file=shown,
            )
    return None


def _stale_formulas(shown: str, sheet: str, facts: _Facts) -> Diagnostic:
    row, col = facts.first_formula or (1, 1)
    count = f"{facts.formulas:,} formula{'s' if facts.formulas > 1 else ''}"
    return Diagnostic(
        f"this workbook asks for its {count} to be computed again when it is opened: a program"
        " wrote it, and the values saved with the formulas may be out of date",
        span=cell_span(shown, sheet, row, col, ""),
        hint=f"{REOPEN_HINT}, so that the values read are the ones Excel shows",
        severity="warning",
    )


class _SheetReader:
    """Reads one sheet, row by row, into a SheetTable and the problems of its cells."""

    def __init__(
        self, worksheet: Any, shown: str, sheet: str, facts: _Facts, deadline: float
    ) -> None:
        self.worksheet = worksheet
        self.shown = shown
        self.sheet = sheet
        self.facts = facts
        self.deadline = deadline
        self.problems: list[Diagnostic] = []
        self.key = searchable_key()
        self.key_cell: Diagnostic | None = None
        self.uncached: list[tuple[int, int, str]] = []
        self.errors: list[tuple[int, int, str]] = []

    def span(self, row: int, column: int, text: str = "") -> Span:
        return cell_span(self.shown, self.sheet, row, column, text)

    def read(self) -> tuple[SheetTable, list[Diagnostic]]:
        header: list[str] = []
        header_row = 0
        records: list[tuple[int, list[str]]] = []
        merged = _MergeFill([])
        for number, texts in self._rows():
            if header_row:
                texts = merged.fill(number, texts)
            if not any(texts):
                continue
            if not header_row:
                header, header_row = [header_name(text) for text in texts], number
                merged = _MergeFill([m for m in self.facts.merges if m[0] > header_row])
                continue
            if len(records) >= MAX_SHEET_ROWS:
                self.problems.append(
                    Diagnostic(
                        f"the sheet has more than {MAX_SHEET_ROWS:,} rows of values",
                        span=self.span(number, 1),
                        hint="split the rows into several sheets or workbooks, or remove the "
                        "ones the campaign does not need",
                    )
                )
                break
            records.append((number, texts))
        self._cell_problems()
        width = max([len(header), *(len(texts) for _, texts in records)])
        names = [*header, *[""] * (width - len(header))]
        spanned = self._merged_header_problems(names, header_row)
        self.problems.extend(
            check_column_names(
                names,
                lambda column: self.span(header_row, column + 1, names[column]),
                lambda column: column_letters(column + 1),
                unchecked=spanned,
            )
        )
        rows = tuple(
            {name: (texts[i] if i < len(texts) else "") for i, name in enumerate(names)}
            for _, texts in records
        )
        columns = {name: i + 1 for i, name in enumerate(names) if name}
        numbers = tuple(number for number, _ in records)
        return SheetTable(self.sheet, rows, numbers, columns), self.problems

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """(sheet row, the texts of its cells up to the last one that is not empty)."""
        self.worksheet.reset_dimensions()  # a sheet may claim A1:XFD1048576; read what is there
        for number, row in enumerate(self.worksheet.iter_rows(), start=1):
            if time.process_time() > self.deadline:
                raise _TooSlow
            texts = self._texts(number, row)
            while texts and not texts[-1]:
                texts.pop()
            yield number, texts

    def _texts(self, number: int, row: Sequence[Any]) -> list[str]:
        texts: list[str] = []
        for cell in row:
            column = getattr(cell, "column", None)
            value = getattr(cell, "value", None)
            if column is None:
                continue  # an empty filler openpyxl puts between the cells the file has
            if value is None:
                formula = self.facts.uncached.get((number, column))
                if formula is not None:
                    self.uncached.append((number, column, formula))
                continue
            if column > MAX_SHEET_COLUMNS:
                letters = column_letters(column)
                raise WorkbookRefusal(
                    f"has a value in cell {letters}{number} of the sheet {self.sheet!r}, beyond "
                    f"the first {MAX_SHEET_COLUMNS:,} columns that are read",
                    "keep the axis values in the first columns of the sheet",
                )
            kind = cell.data_type
            if kind == "s":  # most cells: text needs no format
                text = str(value).strip()
            elif kind == "e":
                self.errors.append((number, column, str(value)))
                text = str(value)
            else:
                text = cell_text(value, cell.number_format).strip()
            if self.key is not None and self.key in text and self.key_cell is None:
                self.key_cell = Diagnostic(
                    f"a cell of this workbook contains your API key (the value of {ENV_KEY})",
                    span=self.span(number, column, MASK),
                    hint=KEY_HINT,
                )
            texts.extend([""] * (column - 1 - len(texts)))
            texts.append(text)
        return texts

    def _cell_problems(self) -> None:
        for cells, message, hint in (
            (
                self.uncached,
                "the formula {value} in this cell has no saved value: a program that does not "
                "compute formulas wrote the workbook",
                f"{REOPEN_HINT}: that computes every formula and saves its value",
            ),
            (
                self.errors,
                "this cell shows the error {value}: its formula failed in Excel",
                "correct the formula (or clear the cell) in Excel, and save the workbook",
            ),
        ):
            if not cells:
                continue
            row, column, value = cells[0]
            others = len(cells) - 1
            plural = "s" if others > 1 else ""
            more = f" (and {others:,} more cell{plural} like it)" if others else ""
            self.problems.append(
                Diagnostic(
                    message.format(value=value) + more,
                    span=self.span(row, column, value),
                    hint=hint,
                )
            )

    def _merged_header_problems(self, names: list[str], header_row: int) -> set[int]:
        """A header merged over several columns leaves all but its first unnamed: say so once,
        and return the 0-based columns that need no "empty header" message of their own."""
        spanned: set[int] = set()
        for top, left, bottom, right in self.facts.merges:
            if not (top <= header_row <= bottom and left < right and left <= len(names)):
                continue
            spanned.update(range(left, min(right, len(names))))  # 0-based, after the first
            self.problems.append(
                Diagnostic(
                    f"the header {names[left - 1]!r} is one cell merged over columns "
                    f"{column_letters(left)} to {column_letters(right)}: each column needs a "
                    "name of its own",
                    span=self.span(header_row, left, names[left - 1]),
                    hint="unmerge the cells (Home > Merge & Center) and name each column",
                )
            )
        return spanned


class _MergeFill:
    """Gives a merged range's value (its top-left cell's) to every cell it covers, row by row."""

    def __init__(self, merges: list[tuple[int, int, int, int]]) -> None:
        self.merges = sorted(merges)
        self.next = 0
        self.active: list[tuple[int, int, int, int]] = []
        self.corner: dict[tuple[int, int], str] = {}

    def fill(self, number: int, texts: list[str]) -> list[str]:
        while self.next < len(self.merges) and self.merges[self.next][0] <= number:
            self.active.append(self.merges[self.next])
            self.next += 1
        self.active = [merge for merge in self.active if merge[2] >= number]
        for top, left, _, right in self.active:
            if top == number:
                self.corner[(top, left)] = texts[left - 1] if left <= len(texts) else ""
            value = self.corner.get((top, left), "")
            if not value or right > MAX_SHEET_COLUMNS:
                continue
            texts.extend([""] * (right - len(texts)))
            for column in range(left, right + 1):
                texts[column - 1] = texts[column - 1] or value
        return texts
