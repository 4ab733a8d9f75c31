"""Axes from inline lists, CSV exports (as spreadsheets write them), YAML files and globs."""

from __future__ import annotations

import codecs

import pytest

from runner.plan.axes import load_axes
from runner.plan.csvfile import read_csv_table
from tests.plan_support import headlines, make_recipe, plan_errors, plan_text, png_bytes
from tests.work_bound import python_lines_at_most

ROWS = [
    {"code": "fr-FR", "setting": "a café terrace, Paris"},
    {"code": "NO", "setting": "a fjord\ncabin"},
    {"code": "007", "setting": "yes"},
]


def csv_recipe(axis: str = "{ csv: data/markets.csv }") -> str:
    return (
        "version: 1\n"
        "name: t\n"
        "matrix:\n"
        f"  market: {axis}\n"
        "image: a.png\n"
        'prompt: "{{ market.setting }}"\n'
        'output: "{{ market.code }}"\n'
    )


def market_rows(tmp_path, data: bytes | str, axis: str = "{ csv: data/markets.csv }"):
    recipe = make_recipe(tmp_path, csv_recipe(axis), {"data/markets.csv": data})
    axes, problems = load_axes(recipe)
    assert problems == [], headlines(problems)
    return list(axes[0].values)


def csv_text(delimiter: str = ",") -> str:
    """What spreadsheets write: CRLF, quotes around cells holding the delimiter or a newline."""
    return (
        f"code{delimiter}setting\r\n"
        f'fr-FR{delimiter}"a café terrace, Paris"\r\n'
        f'NO{delimiter}"a fjord\ncabin"\r\n'
        f"007{delimiter}yes\r\n"
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(csv_text().encode("utf-8"), id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + csv_text().encode("utf-8"), id="utf-8 with BOM"),
        pytest.param(csv_text(";").encode("utf-8"), id="semicolon (European Excel)"),
        pytest.param(csv_text().encode("cp1252"), id="cp1252 (older Excel)"),
        pytest.param(csv_text("\t").encode("utf-16"), id="utf-16 tab (Excel Unicode text)"),
        pytest.param(csv_text("\t").encode("utf-16-le"), id="utf-16-le without BOM"),
        pytest.param(("sep=;\r\n" + csv_text(";")).encode("utf-8"), id="Excel sep= line"),
    ],
)
def test_csv_exports_read_the_same(tmp_path, data):
    assert market_rows(tmp_path, data) == ROWS


def test_csv_values_stay_text_and_blank_rows_and_header_spaces_are_ignored(tmp_path):
    data = " code , n \n\nNO,007\n  ,  \nON,1.0\n\n\n"
    assert market_rows(tmp_path, data) == [
        {"code": "NO", "n": "007"},
        {"code": "ON", "n": "1.0"},
    ]


def test_short_rows_are_padded_and_empty_trailing_columns_dropped(tmp_path):
    data = "code,setting,,\nfr-FR\nde-DE,loft,,\n"
    assert market_rows(tmp_path, data) == [
        {"code": "fr-FR", "setting": ""},
        {"code": "de-DE", "setting": "loft"},
    ]


def test_trailing_empty_columns_are_dropped_in_one_pass_over_the_cells():
    # 30,000 empty header cells and 2,000 short rows: the trim used to rescan every row for
    # every trailing column (60 million steps); one pass reads each cell at most once (the
    # lines run are then about 400,000, mostly reading the 30,000-cell header line itself).
    rows = "".join(
        f"c{index},s{index},,x\n" if index == 7 else f"c{index},s{index}\n" for index in range(2000)
    )
    data = ("code,setting" + "," * 30_000 + "\n" + rows).encode()
    with python_lines_at_most(1_000_000):
        table, problems = read_csv_table(data, "m.csv")
    assert [diagnostic.message for diagnostic in problems] == [
        "the header of column 3 is empty",
        "the header of column 4 is empty",
    ]
    assert len(table.rows) == 2000


def test_csv_header_problems_name_the_column(tmp_path):
    data = "code,setting,code,,extra\nfr-FR,x,y,z,w\n"
    diagnostics = plan_errors(tmp_path, csv_recipe(), {"data/markets.csv": data, "a.png": b""})
    assert headlines(diagnostics) == [
        "data/markets.csv:1:14: error: the column name 'code' is used twice (columns 1 and 3)",
        "data/markets.csv:1:19: error: the header of column 4 is empty",
    ]


def test_csv_quote_never_closed_names_the_line_where_it_opened(tmp_path):
    data = 'code,setting\nfr-FR,Paris\nde-DE,"Berlin loft\nja-JP,Kyoto\nit-IT,Rome\n'
    diagnostics = plan_errors(tmp_path, csv_recipe(), {"data/markets.csv": data})
    assert (str(diagnostics[0].span), diagnostics[0].message) == (
        "data/markets.csv:3:1",
        "a quote opened on this line is never closed, so the rest of the file is read as one cell",
    )


def test_csv_row_with_too_many_cells_names_its_line(tmp_path):
    data = "code,setting\nfr-FR,Paris\nde-DE,Berlin, loft\n"
    (diagnostic,) = plan_errors(tmp_path, csv_recipe(), {"data/markets.csv": data})
    assert str(diagnostic.span) == "data/markets.csv:3:14"
    assert diagnostic.message == "this row has 3 cells but the header names only 2 columns"
    assert "comma-separated" in (diagnostic.hint or "")


def test_missing_csv_points_at_the_recipe_line(tmp_path):
    diagnostics = plan_errors(tmp_path, csv_recipe("{ csv: data/markts.csv }"), {"a.png": b""})
    assert headlines(diagnostics) == [
        "recipe.yaml:4:18: error: matrix.market.csv: the file data/markts.csv does not exist"
    ]


def test_csv_with_only_a_header_is_an_empty_axis(tmp_path):
    diagnostics = plan_errors(tmp_path, csv_recipe(), {"data/markets.csv": "code,setting\n"})
    assert headlines(diagnostics) == [
        "recipe.yaml:4:11: error: matrix.market: the axis 'market' has no values: "
        "data/markets.csv has no rows"
    ]


def test_yaml_axis_file_holds_a_list(tmp_path):
    axis = "{ yaml: data/markets.yaml }"
    data = "- { code: NO, setting: fjord }\n- { code: fr-FR, setting: café }\n"
    recipe = make_recipe(tmp_path, csv_recipe(axis), {"data/markets.yaml": data})
    axes, problems = load_axes(recipe)
    assert problems == []
    rows = list(axes[0].values)
    assert rows == [{"code": "NO", "setting": "fjord"}, {"code": "fr-FR", "setting": "café"}]


def test_yaml_axis_file_that_is_not_a_list_is_an_error(tmp_path):
    axis = "{ yaml: data/markets.yaml }"
    files = {"data/markets.yaml": "code: NO\nsetting: fjord\n"}
    (diagnostic,) = plan_errors(tmp_path, csv_recipe(axis), files)
    assert diagnostic.span is not None and diagnostic.span.file == "data/markets.yaml"
    assert diagnostic.message.startswith("this file holds a mapping; an axis file must hold a list")


def test_yaml_axis_file_syntax_errors_come_from_the_loader_with_its_position(tmp_path):
    axis = "{ yaml: data/markets.yaml }"
    files = {"data/markets.yaml": "- a\n- b: [\n"}
    (diagnostic,) = plan_errors(tmp_path, csv_recipe(axis), files)
    assert diagnostic.span is not None and diagnostic.span.file == "data/markets.yaml"


def test_glob_axis_is_sorted_with_name_stem_and_path(tmp_path):
    files = {name: png_bytes() for name in ("images/b.png", "images/a.png", "images/c.jpg")}
    text = (
        "version: 1\nname: t\nmatrix:\n  photo: { glob: 'images/*.png' }\n"
        'image: "{{ photo.path }}"\nprompt: "{{ photo.stem }}"\noutput: "{{ photo.stem }}"\n'
    )
    plan = plan_text(tmp_path, text, files)
    assert [dict(job.vars["photo"]) for job in plan.jobs] == [
        {"name": "a.png", "stem": "a", "path": "images/a.png"},
        {"name": "b.png", "stem": "b", "path": "images/b.png"},
    ]
    assert [job.image.ref for job in plan.jobs] == ["images/a.png", "images/b.png"]


def test_glob_without_matches_is_an_error(tmp_path):
    text = csv_recipe("{ glob: 'images/*.webp' }")
    (diagnostic,) = plan_errors(tmp_path, text, {"images/a.png": png_bytes()})
    assert diagnostic.headline() == (
        "recipe.yaml:4:19: error: matrix.market.glob: the pattern 'images/*.webp' matches no files"
    )


def test_glob_may_read_beside_the_recipe_folder_inside_its_git_project(tmp_path):
    (tmp_path / ".git").mkdir()  # the project root: data may come from anywhere below it
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x.png").write_bytes(png_bytes())
    text = (
        "version: 1\nname: t\nmatrix:\n  photo: { glob: '../shared/*.png' }\n"
        'image: "{{ photo.path }}"\nprompt: "p"\noutput: "{{ photo.stem }}"\n'
    )
    plan = plan_text(tmp_path / "recipes", text)
    assert plan.jobs[0].image.ref == "../shared/x.png"
    assert plan.jobs[0].outputs == ("x.png",)


def test_empty_inline_axis_is_an_error(tmp_path):
    diagnostics = plan_errors(tmp_path, csv_recipe("[]"), {"a.png": png_bytes()})
    assert headlines(diagnostics) == [
        "recipe.yaml:4:11: error: matrix.market: the axis 'market' has no values"
    ]


def test_every_axis_problem_is_reported_at_once(tmp_path):
    text = (
        "version: 1\nname: t\nmatrix:\n  a: { csv: a.csv }\n  b: { glob: 'none/*' }\n"
        '  c: []\nimage: a.png\nprompt: "{{ a.x }"\noutput: o\n'
    )
    diagnostics = plan_errors(tmp_path, text)
    assert [d.span.line for d in diagnostics if d.span] == [4, 5, 6, 8]


def test_damaged_utf16_csv_is_a_diagnostic_not_a_crash(tmp_path):
    data = codecs.BOM_UTF16_LE + "code\nfr".encode("utf-16-le") + b"\x00"  # odd length
    (diagnostic,) = plan_errors(tmp_path, csv_recipe(), {"data/markets.csv": data})
    assert diagnostic.headline().startswith(
        "data/markets.csv:1:1: error: this file looks like UTF-16-LE text but is damaged"
    )
