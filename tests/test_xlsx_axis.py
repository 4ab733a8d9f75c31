"""Excel workbooks as axes: real .xlsx files, written with openpyxl in each test."""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from runner.diagnostics import EXIT_OK, EXIT_USAGE
from runner.plan import workbook, workbook_format
from runner.plan.axes import SOURCES
from runner.recipe.schema_check import recipe_schema
from tests.clihelp import run_cli
from tests.plan_support import plan_errors, plan_text, png_bytes
from tests.xlsx_support import write_workbook

HEAD = "version: 1\nname: t\n"
TAIL = 'image: a.png\nprompt: "p {{ m }}"\noutput: "{{ m.code }}"\n'
MARKETS = [["code", "setting"], ["fr-FR", "a Paris café"], ["de-DE", "a Berlin loft"]]


def recipe(axis: str, tail: str = TAIL) -> str:
    return HEAD + f"matrix:\n  m: {axis}\n" + tail


def values(tmp_path: Path, axis: str = "{ xlsx: data/m.xlsx }") -> list[dict[str, str]]:
    plan = plan_text(tmp_path, recipe(axis), {"a.png": png_bytes()})
    return [dict(job.vars["m"]) for job in plan.jobs]


def errors(tmp_path: Path, axis: str = "{ xlsx: data/m.xlsx }", tail: str = TAIL) -> list[str]:
    found = plan_errors(tmp_path, recipe(axis, tail), {"a.png": png_bytes()})
    return [d.headline() for d in found]


def test_cells_read_as_excel_shows_them(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {
            "Markets": [
                ["code", "zip", "count", "ratio", "sum", "launch", "at", "opens", "on", "pct"],
                [
                    "fr-FR",
                    "007",
                    12,
                    3.5,
                    0.1 + 0.2,
                    datetime.date(2025, 3, 1),
                    datetime.datetime(2025, 3, 1, 14, 30),
                    datetime.time(9, 5),
                    True,
                    0.25,
                ],
                [
                    "de-DE",
                    "0420",
                    12.0,
                    -2.25,
                    1e20,
                    datetime.date(1999, 12, 31),
                    datetime.datetime(2025, 3, 1, 0, 0),
                    datetime.time(17, 0, 30),
                    False,
                    0.125,
                ],
            ]
        },
        formats={
            ("Markets", "G2"): "yyyy-mm-dd hh:mm",
            ("Markets", "G3"): "yyyy-mm-dd hh:mm",
            ("Markets", "H2"): "hh:mm",
            ("Markets", "H3"): "hh:mm:ss",
            ("Markets", "J2"): "0%",
            ("Markets", "J3"): "0.0%",
            ("Markets", "C3"): "0.00",
        },
    )
    assert values(tmp_path) == [
        {"code": "fr-FR", "zip": "007", "count": "12", "ratio": "3.5", "sum": "0.3",
         "launch": "2025-03-01", "at": "2025-03-01 14:30", "opens": "09:05", "on": "TRUE",
         "pct": "25%"},
        {"code": "de-DE", "zip": "0420", "count": "12.00", "ratio": "-2.25", "sum": "1E+20",
         "launch": "1999-12-31", "at": "2025-03-01 00:00", "opens": "17:00:30", "on": "FALSE",
         "pct": "12.5%"},
    ]  # fmt: skip


def test_formulas_give_the_values_excel_saved_with_them(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "price", "double", "label", "blank"],
                     ["fr-FR", 12, "=B2*2", '=A2&" market"', '=IF(B2>99,"big","")']]},
        cached={("Markets", "C2"): 24, ("Markets", "D2"): "fr-FR market", ("Markets", "E2"): ""},
    )  # fmt: skip
    assert values(tmp_path) == [
        {"code": "fr-FR", "price": "12", "double": "24", "label": "fr-FR market", "blank": ""}
    ]


def test_a_formula_no_program_computed_is_an_error_at_its_cell(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "n"], ["fr-FR", "=1+1"], ["de-DE", "=2+2"], ["it-IT", "=3+3"]]},
    )
    [diagnostic] = plan_errors(tmp_path, recipe("{ xlsx: data/m.xlsx }"), {"a.png": png_bytes()})
    assert diagnostic.headline() == (
        "data/m.xlsx[Markets]!B2: error: the formula =1+1 in this cell has no saved value: a "
        "program that does not compute formulas wrote the workbook (and 2 more cells like it)"
    )
    assert diagnostic.hint == (
        "open the workbook in Excel (or LibreOffice Calc) and save it: that computes every "
        "formula and saves its value"
    )
    assert "    B2 | =1+1\n       | ^^^^" in diagnostic.render()


def test_a_workbook_that_asks_to_be_computed_again_gets_a_warning_at_its_first_formula(
    tmp_path, capsys, monkeypatch
):
    # What XlsxWriter writes: a saved value with every formula, and fullCalcOnLoad.
    path = write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "n"], ["fr-FR", "=1+1"]]},
        cached={("Markets", "B2"): 0},
    )
    _set_full_calc(path)
    (tmp_path / "r.yaml").write_text(recipe("{ xlsx: data/m.xlsx }"), encoding="utf-8")
    (tmp_path / "a.png").write_bytes(png_bytes())
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "validate", "r.yaml")
    assert result.code == EXIT_OK
    assert result.err.startswith(
        "data/m.xlsx[Markets]!B2: warning: this workbook asks for its 1 formula to be computed "
        "again when it is opened: a program wrote it, and the values saved with the formulas "
        "may be out of date\n"
    )
    assert "r.yaml: ok (1 job, 1 image)" in result.out


def _set_full_calc(path: Path) -> None:
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            part = source.read(entry.filename)
            if entry.filename == "xl/workbook.xml":
                part = part.replace(b"<calcPr ", b'<calcPr fullCalcOnLoad="1" ')
            target.writestr(entry, part)
    path.write_bytes(out.getvalue())


def test_an_error_cell_is_an_error_at_the_cell(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "share"], ["fr-FR", "=1/0"], ["de-DE", 0.5]]},
        cached={("Markets", "B2"): "#DIV/0!"},
    )
    assert errors(tmp_path) == [
        "data/m.xlsx[Markets]!B2: error: this cell shows the error #DIV/0!: its formula failed "
        "in Excel"
    ]


def test_empty_trailing_rows_and_columns_blank_rows_and_a_header_below_blank_rows(tmp_path):
    rows = [[], [None, None], ["code", "setting", None], [], ["fr-FR", "café", None],
            [None, None, None], ["de-DE", "loft"], [], []]  # fmt: skip
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": rows},
        formats={("Markets", "Z40"): "0.00", ("Markets", "C3"): "0.00"},  # styled, empty
    )
    assert values(tmp_path) == [
        {"code": "fr-FR", "setting": "café"},
        {"code": "de-DE", "setting": "loft"},
    ]


def test_non_latin_text_and_sheet_names(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {
            "Übersicht": [["note"], ["skip me"]],
            "市場": [["code", "setting"], ["ja-JP", "京都の茶室"], ["ar-EG", "مقهى في القاهرة"],
                     ["ru-RU", "московская кухня 🎉"]],
        },
    )  # fmt: skip
    rows = values(tmp_path, "{ xlsx: data/m.xlsx, sheet: 市場 }")
    assert rows == [
        {"code": "ja-JP", "setting": "京都の茶室"},
        {"code": "ar-EG", "setting": "مقهى في القاهرة"},
        {"code": "ru-RU", "setting": "московская кухня 🎉"},
    ]


def test_the_default_is_the_first_visible_sheet_and_sheet_picks_another(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Hidden": [["code"], ["hidden"]], "Markets": MARKETS, "2024": [["code"], ["y2024"]]},
        hidden=["Hidden"],
    )
    assert [row["code"] for row in values(tmp_path)] == ["fr-FR", "de-DE"]
    assert values(tmp_path, "{ xlsx: data/m.xlsx, sheet: Hidden }") == [{"code": "hidden"}]
    assert values(tmp_path, "{ xlsx: data/m.xlsx, sheet: 2024 }") == [{"code": "y2024"}]
    # Excel ignores case in sheet names, so a sheet cannot be told apart by it.
    assert len(values(tmp_path, "{ xlsx: data/m.xlsx, sheet: MARKETS }")) == 2


def test_the_sheet_integer_is_read_from_the_real_recipe_loader(tmp_path, capsys):
    write_workbook(tmp_path / "data/m.xlsx", {"Markets": MARKETS, "2024": [["code"], ["y"]]})
    (tmp_path / "a.png").write_bytes(png_bytes())
    (tmp_path / "r.yaml").write_text(recipe("{ xlsx: data/m.xlsx, sheet: 2024 }"), "utf-8")
    result = run_cli(capsys, "validate", str(tmp_path / "r.yaml"))
    assert result.code == EXIT_OK, result.err
    assert result.out.endswith("ok (1 job, 1 image)\n")


def test_an_unknown_sheet_lists_the_sheets(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Notes": [["x"]], "Markets": MARKETS, "Products": [["sku"]]},
        hidden=["Notes"],
    )
    [diagnostic] = plan_errors(
        tmp_path, recipe("{ xlsx: data/m.xlsx, sheet: Markts }"), {"a.png": png_bytes()}
    )
    assert diagnostic.headline() == (
        "recipe.yaml:4:34: error: matrix.m.sheet: the workbook data/m.xlsx has no sheet named "
        "'Markts' (did you mean 'Markets'?)"
    )
    assert diagnostic.hint == "its sheets are: Notes (hidden), Markets, Products"


def test_header_rules_are_the_csv_rules_and_name_the_cell(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "setting", None, "code"], ["fr-FR", "x", "stray", "y"]]},
    )
    assert errors(tmp_path) == [
        "data/m.xlsx[Markets]!C1: error: the header of column C is empty",
        "data/m.xlsx[Markets]!D1: error: the column name 'code' is used twice (columns A and D)",
    ]


def test_a_missing_column_in_a_template_names_the_columns_the_sheet_has(tmp_path):
    write_workbook(tmp_path / "data/m.xlsx", {"Markets": MARKETS})
    tail = 'image: a.png\nprompt: "{{ m.settting }}"\noutput: "{{ m.code }}"\n'
    [diagnostic] = plan_errors(
        tmp_path, recipe("{ xlsx: data/m.xlsx }", tail), {"a.png": png_bytes()}
    )
    assert diagnostic.message.startswith("'m' has no field 'settting' (did you mean 'setting'?)")
    assert diagnostic.hint == "its fields are: code, setting"


def test_merged_cells_below_the_header_give_their_value_to_every_cell(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "region", "setting"], ["fr-FR", "Europe", "café"],
                     ["de-DE", None, "loft"], ["ja-JP", "Asia", None]]},
        merges={"Markets": ["B2:B3", "B4:C4"]},
    )  # fmt: skip
    assert values(tmp_path) == [
        {"code": "fr-FR", "region": "Europe", "setting": "café"},
        {"code": "de-DE", "region": "Europe", "setting": "loft"},
        {"code": "ja-JP", "region": "Asia", "setting": "Asia"},
    ]


def test_a_merged_header_is_said_as_such(tmp_path):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "place", None], ["fr-FR", "Paris", "café"]]},
        merges={"Markets": ["B1:C1"]},
    )
    assert errors(tmp_path) == [
        "data/m.xlsx[Markets]!B1: error: the header 'place' is one cell merged over columns B "
        "to C: each column needs a name of its own"
    ]


def _refusal(tmp_path: Path, name: str, data: bytes) -> tuple[str, str | None]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / name).write_bytes(data)
    [diagnostic] = plan_errors(tmp_path, recipe(f"{{ xlsx: data/{name} }}"), {"a.png": png_bytes()})
    assert diagnostic.path == "matrix.m.xlsx"
    return diagnostic.message, diagnostic.hint


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def test_an_old_xls_is_known_by_its_bytes_and_gets_save_as_xlsx(tmp_path):
    data = OLE + "Workbook".encode("utf-16-le") + bytes(100)
    for name in ("old.xls", "renamed.xlsx"):
        message, hint = _refusal(tmp_path, name, data)
        assert message == (
            f"the file data/{name} is in the old Excel 97-2003 format (.xls), which backdrop "
            "does not read"
        )
        assert hint == "open it in Excel and save it as an Excel Workbook (.xlsx): File > Save As"


def test_a_password_protected_workbook_says_so(tmp_path):
    data = OLE + "EncryptionInfo".encode("utf-16-le") + "EncryptedPackage".encode("utf-16-le")
    message, hint = _refusal(tmp_path, "secret.xlsx", data)
    assert message == "the file data/secret.xlsx is protected with a password, so it cannot be read"
    assert hint is not None and hint.startswith("remove the password")


def test_a_csv_or_a_web_page_renamed_xlsx(tmp_path):
    message, hint = _refusal(tmp_path, "a.xlsx", "code;setting\nfr-FR;café\n".encode("cp1252"))
    assert message == "the file data/a.xlsx is a text file (a CSV?), not an Excel workbook"
    assert hint == (
        "if it is a CSV export, give it a .csv name and read it with {csv: ...} instead of "
        "{xlsx: ...}"
    )
    message, _ = _refusal(tmp_path, "b.xlsx", b"<html><table><tr><td>1</td></tr></table></html>")
    assert message == (
        "the file data/b.xlsx is a web page (HTML) saved with an Excel name, not a workbook"
    )


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_other_zips_are_named(tmp_path):
    ods = _zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b""})
    message, hint = _refusal(tmp_path, "a.ods", ods)
    assert message == (
        "the file data/a.ods is an OpenDocument spreadsheet (.ods, from LibreOffice or Numbers),"
        " not an .xlsx"
    )
    assert hint == "open it and save it as Excel 2007-365 (.xlsx): File > Save As"
    message, _ = _refusal(tmp_path, "b.xlsx", _zip({"word/document.xml": b"<w/>"}))
    assert message == "the file data/b.xlsx is a Word document, not an Excel workbook"


def test_a_damaged_workbook_is_said_damaged(tmp_path):
    good = write_workbook(tmp_path / "good.xlsx", {"Markets": MARKETS}).read_bytes()
    message, _ = _refusal(tmp_path, "cut.xlsx", good[: len(good) // 2])
    assert message == (
        "the file data/cut.xlsx is damaged: it starts like an .xlsx but its contents cannot be read"
    )
    broken = _zip({"xl/workbook.xml": b"<workbook><sheets>", "[Content_Types].xml": b"<"})
    message, _ = _refusal(tmp_path, "broken.xlsx", broken)
    assert message.startswith("the file data/broken.xlsx is damaged")


def test_a_zip_bomb_is_refused_by_its_declared_sizes_before_anything_is_decompressed(
    tmp_path, monkeypatch
):
    good = write_workbook(tmp_path / "good.xlsx", {"Markets": MARKETS}).read_bytes()
    source = zipfile.ZipFile(io.BytesIO(good))
    parts = {entry.filename: source.read(entry) for entry in source.infolist()}
    bomb = _zip({**parts, "xl/media/zeros.bin": bytes(3 * 1024 * 1024)})
    assert len(bomb) < 100_000
    monkeypatch.setattr(workbook_format, "MAX_UNCOMPRESSED_BYTES", 2 * 1024 * 1024)

    def never(*args, **kwargs):
        raise AssertionError("openpyxl must not open a refused workbook")

    monkeypatch.setattr("openpyxl.load_workbook", never)
    message, hint = _refusal(tmp_path, "bomb.xlsx", bomb)
    assert message == (
        "the file data/bomb.xlsx holds 3.0 MB once decompressed, more than the 2.0 MB allowed"
    )
    assert hint == "keep only the sheet the recipe reads, or split it into smaller workbooks"


def test_a_sheet_that_claims_the_whole_grid_is_read_for_what_it_holds(tmp_path):
    path = write_workbook(tmp_path / "data/m.xlsx", {"Markets": MARKETS})
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    parts = {entry.filename: source.read(entry) for entry in source.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert b'<dimension ref="A1:B3"' in sheet
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"A1:B3", b"A1:XFD1048576")
    path.write_bytes(_zip(parts))
    assert [row["code"] for row in values(tmp_path)] == ["fr-FR", "de-DE"]


def test_the_row_cap_the_column_cap_and_the_time_limit(tmp_path, monkeypatch):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "setting"], *[[f"c{i}", "x"] for i in range(5)]]},
    )
    monkeypatch.setattr(workbook, "MAX_SHEET_ROWS", 3)
    assert errors(tmp_path) == [
        "data/m.xlsx[Markets]!A5: error: the sheet has more than 3 rows of values"
    ]
    monkeypatch.setattr(workbook, "MAX_SHEET_ROWS", 10)
    monkeypatch.setattr(workbook, "MAX_SHEET_COLUMNS", 1)
    [message] = errors(tmp_path)
    assert message.endswith(
        "the file data/m.xlsx has a value in cell B1 of the sheet 'Markets', beyond the first 1 "
        "columns that are read"
    )
    monkeypatch.setattr(workbook, "MAX_SHEET_COLUMNS", 10)
    monkeypatch.setattr(workbook, "XLSX_SECONDS", -1.0)
    [message] = errors(tmp_path)
    assert message.endswith("the file data/m.xlsx took more than -1 s to read (sheet 'Markets')")


def test_a_workbook_outside_the_project_is_refused_unless_allowed(tmp_path, capsys):
    outside = tmp_path / "shared"
    write_workbook(outside / "m.xlsx", {"Markets": MARKETS})
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "a.png").write_bytes(png_bytes())
    (project / "data").mkdir()
    os.symlink(outside / "m.xlsx", project / "data" / "m.xlsx")
    (project / "r.yaml").write_text(recipe("{ xlsx: data/m.xlsx }"), encoding="utf-8")
    refused = run_cli(capsys, "validate", str(project / "r.yaml"))
    assert refused.code == EXIT_USAGE
    assert "is outside the recipe's project folder" in refused.err
    allowed = run_cli(capsys, "validate", "--allow-outside", str(outside), str(project / "r.yaml"))
    assert allowed.code == EXIT_OK, allowed.err


KEY = "mk-live-0123456789abcdef"


def test_the_api_key_in_a_cell_is_refused_at_the_cell_and_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    write_workbook(tmp_path / "data/m.xlsx", {"Markets": [*MARKETS, ["it-IT", f"x {KEY}"]]})
    [diagnostic] = plan_errors(tmp_path, recipe("{ xlsx: data/m.xlsx }"), {"a.png": png_bytes()})
    assert diagnostic.headline() == (
        "data/m.xlsx[Markets]!B4: error: a cell of this workbook contains your API key (the "
        "value of ONEMIN_API_KEY)"
    )
    assert KEY not in diagnostic.render()


def test_the_api_key_in_another_sheet_is_refused_too(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    write_workbook(tmp_path / "data/m.xlsx", {"Markets": MARKETS, "Secrets": [["key"], [KEY]]})
    [diagnostic] = plan_errors(tmp_path, recipe("{ xlsx: data/m.xlsx }"), {"a.png": png_bytes()})
    assert diagnostic.message.startswith("this workbook contains your API key")
    assert diagnostic.file == "data/m.xlsx"
    assert KEY not in diagnostic.render()


def test_an_xlsm_workbook_is_read_and_its_macros_ignored(tmp_path):
    path = write_workbook(tmp_path / "data/m.xlsm", {"Markets": MARKETS})
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    parts = {entry.filename: source.read(entry) for entry in source.infolist()}
    types = parts["[Content_Types].xml"]
    parts["[Content_Types].xml"] = types.replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    parts["xl/vbaProject.bin"] = OLE
    path.write_bytes(_zip(parts))
    assert len(values(tmp_path, "{ xlsx: data/m.xlsm }")) == 2


def test_a_workbook_given_as_csv_says_to_use_xlsx(tmp_path):
    write_workbook(tmp_path / "data/m.xlsx", {"Markets": MARKETS})
    [diagnostic] = plan_errors(tmp_path, recipe("{ csv: data/m.xlsx }"), {"a.png": png_bytes()})
    assert diagnostic.message == "the file data/m.xlsx is an Excel workbook, not a CSV file"
    assert diagnostic.hint == "read it with {xlsx: data/m.xlsx} instead of {csv: ...}"


def test_the_schema_names_every_registered_axis_source():
    axis = recipe_schema()["$defs"]["axis"]
    keys = set()
    for branch in axis["oneOf"]:
        keys.update(branch.get("properties", {}))
    assert keys - {"sheet"} == set(SOURCES) - {"inline"}
    assert {snippet["label"] for snippet in axis["defaultSnippets"]} == set(SOURCES) - {
        "inline"
    } | {"list"}


def test_canary_openpyxl_read_only_sheets_know_their_part():
    # workbook._scan reads the sheet's XML through this private openpyxl attribute.
    from openpyxl import Workbook, load_workbook

    data = io.BytesIO()
    Workbook().save(data)
    book = load_workbook(io.BytesIO(data.getvalue()), read_only=True)
    assert book.worksheets[0]._worksheet_path == "xl/worksheets/sheet1.xml"


@pytest.mark.parametrize(
    ("value", "number_format", "shown"),
    [
        (7, "000", "007"),  # a zip code kept as a number, shown padded
        (12.0, "General", "12"),
        (-0.001, "0.00", "0.00"),
        (1234.5, "#,##0.00", "1234.50"),  # no thousands separator: it depends on the language
        (0.0625, "0.00%", "6.25%"),
        (123456789012345680.0, "General", "1.23456789012346E+17"),
        (1e-7, "General", "1E-07"),
        (3.5, "0.00 €", "3.5"),  # formats beyond fixed decimals are not imitated
        (datetime.datetime(2025, 3, 1, 9, 5, 7), "yyyy-mm-dd", "2025-03-01"),
        (datetime.timedelta(hours=26, minutes=3), "[h]:mm:ss", "26:03:00"),
    ],
)
def test_cell_text(value, number_format, shown):
    from runner.plan.cellvalues import cell_text

    assert cell_text(value, number_format) == shown


def test_cell_text_of_a_date_without_a_date_format():
    from runner.plan.cellvalues import cell_text

    assert cell_text(datetime.datetime(2025, 3, 1), "General") == "2025-03-01"
    assert cell_text(datetime.datetime(2025, 3, 1, 8, 0), "General") == "2025-03-01 08:00"


def test_xml_parsed_whole_on_opening_is_capped_but_a_sheet_that_states_its_size_is_not(
    tmp_path, monkeypatch
):
    rows = [["code", "setting"], *[[f"c{i}", f"setting {i}"] for i in range(1500)]]
    path = write_workbook(tmp_path / "data/m.xlsx", {"Markets": rows})
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    parts = {entry.filename: source.read(entry) for entry in source.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert len(sheet) > 40_000 and b"<dimension" in sheet[:2000]
    monkeypatch.setattr(workbook_format, "MAX_EAGER_BYTES", 40_000)
    # openpyxl reads a sheet's <dimension> and stops: the sheet is read row by row later.
    assert len(values(tmp_path)) == 1500
    # Without it, openpyxl parses the whole sheet on opening, before any time limit can act.
    parts["xl/worksheets/sheet1.xml"] = re.sub(rb"<dimension [^>]*/>", b"", sheet)
    path.write_bytes(_zip(parts))
    [message] = errors(tmp_path)
    assert message.startswith("recipe.yaml:4:14: error: matrix.m.xlsx: the file data/m.xlsx holds ")
    assert message.endswith(
        " MB of XML to read in one go (its shared text, its styles, and sheets that do not state "
        "their size), more than the 0.0 MB allowed"
    )


@pytest.mark.parametrize("places", [True, False], ids=["cells with r=", "cells without r="])
def test_formulas_without_values_are_found_whether_cells_give_their_place(tmp_path, places):
    path = write_workbook(
        tmp_path / "data/m.xlsx",
        {
            "Markets": [
                ["code", "label", "n"],
                ["fr-FR", '=A2&" market"', 2],
                ["de-DE", "x", "=C2*2"],
            ]
        },
        cached={("Markets", "B2"): "fr-FR market"},
    )
    if not places:  # some programs write cells by position only
        source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
        parts = {entry.filename: source.read(entry) for entry in source.infolist()}
        sheet = parts["xl/worksheets/sheet1.xml"]
        parts["xl/worksheets/sheet1.xml"] = re.sub(rb'<c r="[A-Z]+[0-9]+"', b"<c", sheet)
        path.write_bytes(_zip(parts))
    assert errors(tmp_path) == [
        "data/m.xlsx[Markets]!C3: error: the formula =C2*2 in this cell has no saved value: a "
        "program that does not compute formulas wrote the workbook"
    ]


def test_validate_json_names_the_sheet_of_a_cell(tmp_path, monkeypatch, capsys):
    write_workbook(
        tmp_path / "data/m.xlsx",
        {"Markets": [["code", "share"], ["fr-FR", "=1/0"]]},
        cached={("Markets", "B2"): "#DIV/0!"},
    )
    (tmp_path / "a.png").write_bytes(png_bytes())
    (tmp_path / "r.yaml").write_text(recipe("{ xlsx: data/m.xlsx }"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "validate", "--format", "json", "r.yaml")
    [entry] = json.loads(result.out)
    [diagnostic] = entry["diagnostics"]
    where = {key: diagnostic[key] for key in ("file", "sheet", "line", "column")}
    assert where == {"file": "data/m.xlsx", "sheet": "Markets", "line": 2, "column": 2}
