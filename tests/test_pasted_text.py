"""What Word, Outlook and Excel do to text: each mistake said at the character, with the fix."""

from __future__ import annotations

import json

import pytest

from runner.diagnostics import EXIT_OK, EXIT_USAGE
from runner.plan import nearby_files
from tests.clihelp import CliResult, run_cli
from tests.plan_support import png_bytes
from tests.xlsx_support import write_workbook

HEAD = "version: 1\nname: t\n"
MATRIX = "matrix:\n  market: [de-DE, fr-FR]\n"
IMAGE = "image: a.png\n"


def validate(tmp_path, monkeypatch, capsys, text: str, files=None, *args: str) -> CliResult:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.png").write_bytes(png_bytes())
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    return run_cli(capsys, "validate", *args, "r.yaml")


# --- typographic quotes around a value ------------------------------------------------------


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("\u201c", "\u201d"), ("\u2018", "\u2019"), ("\u201e", "\u201c"), ("\u00ab", "\u00bb")],
)
def test_typographic_quotes_around_output_are_an_error_at_the_quote(
    tmp_path, monkeypatch, capsys, opening, closing
):
    text = (
        HEAD
        + MATRIX
        + IMAGE
        + 'prompt: "p"\n'
        + (f"output: {opening}{{{{ market }}}}/mug{closing}\n")
    )
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_USAGE
    assert result.err == (
        f"r.yaml:7:9: error: output: {opening} and {closing} are not quotes in YAML: they become "
        "part of the value (and of any file or folder name made from it)\n"
        f"    7 | output: {opening}{{{{ market }}}}/mug{closing}\n"
        "      |         ^^^^^^^^^^^^^^^^^^\n"
        '    hint: use straight quotes " instead: output: "{{ market }}/mug"\n'
        "r.yaml: invalid\n"
    )


def test_a_setting_in_typographic_quotes_gets_that_message_alone(tmp_path, monkeypatch, capsys):
    text = HEAD + "defaults:\n  quality: \u201chigh\u201d\n" + IMAGE + 'prompt: "p"\noutput: o\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_USAGE
    # Not also "'“high”' is not one of low, medium, high": that only repeats the symptom.
    assert result.err.splitlines()[0] == (
        "r.yaml:4:12: error: defaults.quality: \u201c and \u201d are not quotes in YAML: they "
        "become part of the value (and of any file or folder name made from it)"
    )
    assert result.err.count("error:") == 1
    assert '    hint: use straight quotes " instead: quality: "high"' in result.err


def test_a_prompt_in_typographic_quotes_is_usable_and_gets_a_warning(tmp_path, monkeypatch, capsys):
    text = HEAD + MATRIX + IMAGE + "prompt: \u201ca mug in {{ market }}\u201d\n"
    text += 'output: "{{ market }}"\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_OK
    assert result.out == "r.yaml: ok (2 jobs, 2 images)\n"
    assert result.err.splitlines()[0] == (
        "r.yaml:6:9: warning: prompt: \u201c and \u201d are not quotes in YAML: they stay in the "
        "text, and in any file name made from it"
    )
    assert result.err.splitlines()[3] == (
        '    hint: use straight quotes " instead: prompt: "a mug in {{ market }}"; or, to keep '
        "the typographic quotes, put the whole value in straight quotes"
    )
    as_json = validate(tmp_path, monkeypatch, capsys, text, None, "--format", "json")
    [entry] = json.loads(as_json.out)
    assert entry["valid"] is True
    [warning] = entry["diagnostics"]
    assert (warning["severity"], warning["line"], warning["column"]) == ("warning", 6, 9)
    planned = run_cli(capsys, "plan", "r.yaml")
    assert planned.code == EXIT_OK
    assert "r.yaml:6:9: warning: prompt:" in planned.err


@pytest.mark.parametrize(
    "prompt",
    [
        "'\u201cSummer\u201d collection, {{ market }}'",  # quoted on purpose
        "Le \u201cClassique\u201d in {{ market }}",  # quotes inside the text
        "|\n  \u201cA mug\u201d in {{ market }}",  # a block of text
    ],
)
def test_typographic_quotes_meant_as_text_are_left_alone(tmp_path, monkeypatch, capsys, prompt):
    text = HEAD + MATRIX + IMAGE + f"prompt: {prompt}\n" + 'output: "{{ market }}"\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert (result.code, result.err) == (EXIT_OK, "")


def test_data_values_in_typographic_quotes_that_reach_output_paths_are_a_warning_at_the_cell(
    tmp_path, monkeypatch, capsys
):
    markets = (
        "code,setting\n\u201cfr-FR\u201d,a caf\u00e9\n\u201cde-DE\u201d,a loft\n"
        'ja-JP,"a \u201cquiet\u201d room"\n'
    )
    text = (
        HEAD + "matrix:\n  market: { csv: data/m.csv }\n" + IMAGE
        + 'prompt: "{{ market.setting }}"\noutput: "{{ market.code }}/mug"\n'
    )  # fmt: skip
    result = validate(tmp_path, monkeypatch, capsys, text, {"data/m.csv": markets})
    assert result.code == EXIT_OK
    assert result.err == (
        "data/m.csv:2:1: warning: the value \u201cfr-FR\u201d is in typographic quotes, which "
        "become part of output paths (and 1 more value like it)\n"
        "    2 | \u201cfr-FR\u201d,a caf\u00e9\n"
        "      | ^^^^^^^\n"
        '    hint: remove the quotes from the value (Excel and Word turn " into \u201c \u201d as '
        "you type)\n"
    )


def test_a_data_value_with_a_non_breaking_space_in_output_paths_is_a_warning_at_the_cell(
    tmp_path, monkeypatch, capsys
):
    # "ja JP" pasted from Word: a folder that looks like "ja JP" and is not the one typed.
    markets = "code,setting\nja\u00a0JP,a room\nfr-FR,a caf\u00e9\nde\u00a0DE,a loft\n"
    text = (
        HEAD + "matrix:\n  market: { csv: data/m.csv }\n" + IMAGE
        + 'prompt: "{{ market.setting }}"\noutput: "{{ market.code }}/mug"\n'
    )  # fmt: skip
    result = validate(tmp_path, monkeypatch, capsys, text, {"data/m.csv": markets})
    assert result.code == EXIT_OK
    assert result.err == (
        "data/m.csv:2:1: warning: the value 'ja\\xa0JP' holds a non-breaking space (U+00A0), "
        "which looks like a space but makes other folder and file names (and 1 more value like "
        "it)\n"
        "    2 | ja\\u00a0JP,a room\n"
        "      | ^^^^^^^^^^\n"
        "    hint: type an ordinary space there (Word and Excel put non-breaking spaces into "
        "text), or remove it\n"
    )
    # Kept out of the paths by the template (in the prompt it is text as typed): no warning.
    replaced = text.replace("{{ market.code }}", "{{ market.code | replace('\\u00a0', '_') }}")
    assert validate(tmp_path, monkeypatch, capsys, replaced, {"data/m.csv": markets}).err == ""


def test_a_key_in_typographic_quotes_is_named(tmp_path, monkeypatch, capsys):
    text = HEAD + "defaults:\n  \u201cquality\u201d: high\n" + IMAGE + 'prompt: "p"\noutput: o\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.err.splitlines()[0] == (
        "r.yaml:4:3: error: defaults: \u201c and \u201d are not quotes in YAML: this key is "
        "'\u201cquality\u201d', not 'quality'"
    )


# --- spaces YAML does not see -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "name"),
    [
        ("\u00a0", "non-breaking space (U+00A0)"),
        ("\u202f", "narrow non-breaking space (U+202F)"),
        ("\u2007", "figure space (U+2007)"),
    ],
)
def test_an_odd_space_after_a_colon_is_named_at_the_character(
    tmp_path, monkeypatch, capsys, space, name
):
    text = HEAD + f"defaults:\n  size: 1024x1024\n  quality:{space}medium\n" + IMAGE
    text += 'prompt: "p"\noutput: o\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_USAGE
    assert result.err == (
        f"r.yaml:5:11: error: the ':' after 'quality' is followed by a {name}, which YAML does "
        "not take for a space: it reads this line as one piece of text, not as a key and its "
        "value\n"
        f"    5 |   quality:\\u{ord(space):04x}medium\n"
        "      |           ^^^^^^\n"
        "    hint: retype the space after the colon: delete it and type an ordinary space (this "
        "character often comes with text pasted from Word, a web page or a chat)\n"
        "r.yaml: invalid\n"
    )


def test_an_odd_space_after_a_colon_where_yaml_reads_on_is_named_too(tmp_path, monkeypatch, capsys):
    # A list item and a lone key parse, as text: the schema's complaint would not say why.
    text = HEAD + "defaults:\n  quality:\u00a0medium\nmatrix:\n  product:\n"
    text += "    - sku:\u00a0MUG-01\n" + IMAGE + 'prompt: "p"\noutput: o\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_USAGE
    headlines = [line for line in result.err.splitlines() if ": error: " in line]
    assert headlines == [
        "r.yaml:4:11: error: defaults: the ':' after 'quality' is followed by a non-breaking "
        "space (U+00A0), which YAML does not take for a space: it reads this line as one piece "
        "of text, not as a key and its value",
        "r.yaml:7:11: error: matrix.product[0]: the ':' after 'sku' is followed by a "
        "non-breaking space (U+00A0), which YAML does not take for a space: it reads this line "
        "as one piece of text, not as a key and its value",
    ]


@pytest.mark.parametrize(
    ("char", "name"), [("\u00ad", "soft hyphen (U+00AD)"), ("\u200b", "zero-width space (U+200B)")]
)
def test_an_invisible_character_in_a_key_or_a_setting_is_named(
    tmp_path, monkeypatch, capsys, char, name
):
    text = HEAD + f"defaults:\n  qual{char}ity: high\n  size: 1024x1024{char}\n" + IMAGE
    text += 'prompt: "p"\noutput: o\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_USAGE
    headlines = [line for line in result.err.splitlines() if ": error: " in line]
    assert headlines == [
        f"r.yaml:4:7: error: defaults: the key 'quality' holds an invisible {name}",
        f"r.yaml:5:18: error: defaults.size: the value '1024x1024' holds an invisible {name}",
    ]


# --- typographic quotes in templates ----------------------------------------------------------


def test_typographic_quotes_in_a_template_point_at_the_quote(tmp_path, monkeypatch, capsys):
    text = HEAD + MATRIX + IMAGE + "prompt: |\n  a vase,\n"
    text += "  {{ market | replace(\u2018de\u2019, \u2018DE\u2019) }} glass\n"
    text += 'output: "{{ market }}"\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_USAGE
    assert result.err == (
        "r.yaml:8:23: error: prompt: template syntax error: \u2018 is a typographic quote, which"
        " templates do not take for a quote\n"
        "    8 |   {{ market | replace(\u2018de\u2019, \u2018DE\u2019) }} glass\n"
        "      |                       ^\n"
        "    hint: use straight quotes ' or \" around text in a template: "
        "{{ market | replace('de', 'DE') }} (Word and Outlook turn them into typographic ones "
        "as you type)\n"
        "r.yaml: invalid\n"
    )


def test_an_invisible_character_in_a_template_is_named(tmp_path, monkeypatch, capsys):
    text = HEAD + MATRIX + IMAGE + 'prompt: "p"\noutput: "{{ mar\u00adket }}"\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.err.splitlines()[:3] == [
        "r.yaml:7:16: error: output: template syntax error: an invisible soft hyphen (U+00AD) "
        "is in the template",
        '    7 | output: "{{ mar\\u00adket }}"',
        "      |                ^^^^^^",
    ]


# --- a missing image, at the value that names it ----------------------------------------------

PRODUCTS = HEAD + "matrix:\n  product:\n    - { sku: MUG-01, image: images/mug.png }\n"
PRODUCTS += "    - { sku: LAMP-02, image: Images/lamp.PNG }\n"
PRODUCT_TAIL = 'image: "{{ product.image }}"\nprompt: "p"\noutput: "{{ product.sku }}"\n'
IMAGES = {"images/mug.png": png_bytes(), "images/lamp.png": png_bytes()}


def test_a_missing_image_is_reported_at_the_mapping_value_with_a_case_suggestion(
    tmp_path, monkeypatch, capsys
):
    result = validate(tmp_path, monkeypatch, capsys, PRODUCTS + PRODUCT_TAIL, IMAGES)
    assert result.code == EXIT_USAGE
    assert result.err == (
        "r.yaml:6:30: error: image: the image Images/lamp.PNG does not exist (did you mean "
        "'images/lamp.png'?) (in job product=LAMP-02)\n"
        "    6 |     - { sku: LAMP-02, image: Images/lamp.PNG }\n"
        "      |                              ^^^^^^^^^^^^^^^\n"
        "    hint: `image:` (r.yaml:7) makes the path from this value; image paths are relative "
        "to the recipe file; check the spelling and the folder\n"
        "r.yaml: invalid\n"
    )


def test_a_missing_image_named_in_a_csv_cell_is_reported_at_the_cell(tmp_path, monkeypatch, capsys):
    csv = 'sku,name,image\nMUG-01,mug,images/mug.png\nLAMP-02,"lamp, tall",images/lamp.jpg\n'
    text = HEAD + "matrix:\n  product: { csv: data/products.csv }\n" + PRODUCT_TAIL
    result = validate(tmp_path, monkeypatch, capsys, text, {**IMAGES, "data/products.csv": csv})
    assert result.err.splitlines()[:3] == [
        "data/products.csv:3:22: error: image: the image images/lamp.jpg does not exist (did you"
        " mean 'images/lamp.png'?) (in job product=LAMP-02)",
        '    3 | LAMP-02,"lamp, tall",images/lamp.jpg',
        "      |                      ^^^^^^^^^^^^^^^",
    ]


def test_a_missing_image_named_in_a_workbook_cell_is_reported_at_the_cell(
    tmp_path, monkeypatch, capsys
):
    rows = [["sku", "image"], ["MUG-01", "images/mug.png"], ["LAMP-02", "imgs/lamp.png"]]
    write_workbook(tmp_path / "data/products.xlsx", {"Products": rows})
    text = HEAD + "matrix:\n  product: { xlsx: data/products.xlsx }\n" + PRODUCT_TAIL
    result = validate(tmp_path, monkeypatch, capsys, text, IMAGES)
    assert result.err.splitlines()[:3] == [
        "data/products.xlsx[Products]!B3: error: image: the image imgs/lamp.png does not exist "
        "(did you mean 'images/lamp.png'?) (in job product=LAMP-02)",
        "    B3 | imgs/lamp.png",
        "       | ^^^^^^^^^^^^^",
    ]


def test_a_value_that_only_helps_build_the_path_keeps_the_template_place(
    tmp_path, monkeypatch, capsys
):
    text = HEAD + "matrix:\n  season: [spring]\n" + 'image: "shots/{{ season }}.png"\n'
    text += 'prompt: "p"\noutput: "{{ season }}"\n'
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.err.splitlines()[0] == (
        "r.yaml:5:8: error: image: the image shots/spring.png does not exist (in job season=spring)"
    )


def test_suggestions_stay_bounded_in_big_folders(tmp_path, monkeypatch):
    from runner.plan.nearby_files import NearbyFiles

    (tmp_path / "images").mkdir()
    for name in ("lamp.png", "mug.png", "vase.png", "bowl.png"):
        (tmp_path / "images" / name).write_bytes(b"x")
    nearby = NearbyFiles(tmp_path, (tmp_path,))
    assert nearby.suggest("Images/LAMP.png") == "images/lamp.png"  # case: a lookup
    assert nearby.suggest("images/lamp.jpg") == "images/lamp.png"  # close: a search
    assert nearby.suggest("images/chair.png") is None
    monkeypatch.setattr(nearby_files, "MAX_CLOSE_SEARCHES", 2)
    assert nearby.suggest("images/vase.jpg") is None  # two searches made: no more
    assert nearby.suggest("IMAGES/Vase.PNG") == "images/vase.png"  # case still answers
    monkeypatch.setattr(nearby_files, "MAX_LISTED", 2)
    capped = NearbyFiles(tmp_path, (tmp_path,))
    capped.suggest("images/x.png")
    assert len(capped._names(tmp_path / "images")[0]) == 2  # a big folder is not read whole


def test_a_suggestion_never_leaves_the_project(tmp_path):
    from runner.plan.nearby_files import NearbyFiles

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "lamp.png").write_bytes(b"x")
    (tmp_path / "project").mkdir()
    nearby = NearbyFiles(tmp_path / "project", (tmp_path / "project",))
    assert nearby.suggest("../outside/LAMP.png") is None


def test_a_cell_with_a_line_break_stays_on_one_line_in_the_job_it_names(
    tmp_path, monkeypatch, capsys
):
    # Alt+Enter in an Excel cell: the value holds a newline, and reaches the output path.
    markets = 'code,setting\n"fr-FR\n::warning::x",a caf\u00e9\n'
    text = (
        HEAD + "matrix:\n  market: { csv: data/m.csv }\n" + IMAGE
        + 'prompt: "{{ market.setting }}"\noutput: "{{ market.code }}/mug"\n'
    )  # fmt: skip
    result = validate(tmp_path, monkeypatch, capsys, text, {"data/m.csv": markets})
    assert result.code == EXIT_USAGE
    headline = result.err.splitlines()[0]
    assert headline.startswith("r.yaml:")
    assert headline.endswith("(in job market=fr-FR\\x0a::warning::x)")


def test_a_setting_with_a_line_break_is_quoted_on_one_line(tmp_path, monkeypatch, capsys):
    text = (
        'version: 1\nname: "spring\\n::warning::x"\n'
        + MATRIX
        + IMAGE
        + 'prompt: "p"\noutput: "o"\n'
    )
    result = validate(tmp_path, monkeypatch, capsys, text)
    assert result.code == EXIT_USAGE
    assert result.err.splitlines()[0] == (
        "r.yaml:2:7: error: name: 'spring\\x0a::warning::x' is not a safe folder name"
    )
