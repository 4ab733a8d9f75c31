"""Output names must work on Windows, macOS and Linux alike: teams share these folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.plan.outputs import OutputProblem, output_paths, same_file_key
from tests.clihelp import run_cli
from tests.plan_support import png_bytes


def refused(rendered: str) -> OutputProblem:
    with pytest.raises(OutputProblem) as caught:
        output_paths(rendered, "png", 1)
    return caught.value


@pytest.mark.parametrize(
    "rendered",
    ["CON", "con", "nul", "Prn", "aux", "COM1", "com9", "LPT1", "lpt9", "con.png", "NUL.tar",
     "fr/CON/mug", "fr/aux.jpg/mug"],
)  # fmt: skip
def test_windows_device_names_are_refused_with_or_without_an_extension(rendered):
    problem = refused(rendered)
    assert problem.rule == "windows device"
    assert "is reserved by Windows" in problem.message


@pytest.mark.parametrize("char", list('*?:<>|"'))
def test_characters_windows_refuses_are_refused(char):
    problem = refused(f"fr/mug{char}1")
    assert problem.rule == "windows character"
    assert f"contains {char!r}" in problem.message


@pytest.mark.parametrize("rendered", ["fr./mug", "fr /mug", "a/b. ./mug", "fr../mug"])
def test_folder_names_ending_in_a_dot_or_a_space_are_refused(rendered):
    # (A file name always ends with its extension.)
    assert refused(rendered).rule == "windows trailing"


@pytest.mark.parametrize(
    "rendered", ["console", "com10", "lpt", "icon", "nullable/mug", "fr-FR/mug-01", "con-1", "é"]
)
def test_ordinary_names_that_look_alike_pass(rendered):
    assert output_paths(rendered, "png", 1) == (f"{rendered}.png",)


def test_same_file_key_ignores_case_and_unicode_form():
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    assert nfc != nfd
    assert same_file_key(nfc) == same_file_key(nfd) == same_file_key("CAF\u00c9")


def test_outputs_differing_only_in_unicode_form_are_a_collision(
    tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mug.png").write_bytes(png_bytes())
    # One name typed on a Mac (decomposed é), one on Windows (composed é): one file on macOS.
    (tmp_path / "recipe.yaml").write_text(
        'version: 1\nname: forms\nmatrix:\n  cafe: ["caf\\u00e9", "cafe\\u0301"]\n'
        "image: mug.png\nprompt: a mug\noutput: '{{ cafe }}'\n",
        encoding="utf-8",
    )
    result = run_cli(capsys, "plan", "--json", "recipe.yaml")
    assert result.code == 2, result.err
    assert "are one file on macOS and Windows, which ignore case and Unicode forms" in result.err


def test_a_device_name_from_a_template_is_one_grouped_error(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mug.png").write_bytes(png_bytes())
    (tmp_path / "recipe.yaml").write_text(
        "version: 1\nname: dev\nmatrix:\n  port: [COM1, com2, Con, nul, ok]\n"
        "image: mug.png\nprompt: a mug\noutput: '{{ port }}/mug'\n",
        encoding="utf-8",
    )
    result = run_cli(capsys, "validate", "--format", "json", "recipe.yaml")
    assert result.code == 2, result.err
    [entry] = json.loads(result.out)
    [diagnostic] = entry["diagnostics"]
    assert diagnostic["path"] == "output"
    assert "is reserved by Windows" in diagnostic["message"]
    assert "and 3 other jobs" in diagnostic["message"]


@pytest.mark.parametrize("rendered", ["COM0", "lpt0", "COM\u00b9", "lpt\u00b3.txt"])
def test_the_rest_of_microsofts_device_list_is_refused(rendered):
    assert refused(rendered).rule == "windows device"


@pytest.mark.parametrize("rendered", ["a:b-spring", "fr/c:x"])
def test_a_colon_is_unportable_not_absolute(rendered):
    # On Linux and macOS "a:b" is an ordinary relative name; only Windows reads "a:" as a drive.
    problem = refused(rendered)
    assert problem.rule == "windows character"
    assert "contains ':', which Windows does not allow in names (there it names a drive)" in (
        problem.message
    )
    assert "absolute" not in problem.message


@pytest.mark.parametrize(
    "char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200f", "\u2028", "\ufeff"]
)
def test_invisible_characters_that_disguise_a_name_are_refused(char):
    problem = refused(f"fr/mug{char}gnp.exe")
    assert problem.rule == "invisible"
    assert f"U+{ord(char):04X}" in problem.message


@pytest.mark.parametrize("rendered", ["x\x85y", "x\x9by"])
def test_c1_control_characters_are_refused(rendered):
    assert refused(rendered).rule == "control"


@pytest.mark.parametrize("rendered", ["CON-spring", "nul-1", "emoji\u200d", "mi\u200cxa"])
def test_names_windows_accepts_pass(rendered):
    # Windows reserves "CON" and "CON.ext", not "CON-spring"; ZWJ/ZWNJ spell real words.
    assert output_paths(rendered, "png", 1) == (f"{rendered}.png",)


def test_the_testers_output_names_from_a_recipe_are_each_refused(
    tmp_path: Path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mug.png").write_bytes(png_bytes())
    # ("x?" is grouped with "a:b-1" as one "windows character" error: checked alone above.)
    names = ["aux/x", "nul.txt", "x /y", "x./y", "a\u202egnp", "a:b-1"]
    (tmp_path / "recipe.yaml").write_text(
        "version: 1\nname: names\nmatrix:\n  name: " + json.dumps(names) + "\n"
        "image: mug.png\nprompt: a mug\noutput: '{{ name }}'\n",
        encoding="utf-8",
    )
    result = run_cli(capsys, "plan", "--json", "recipe.yaml")
    assert result.code == 2, result.err
    assert "is reserved by Windows" in result.err
    assert "ends with a dot or a space" in result.err
    assert "U+202E" in result.err
    assert "contains ':'" in result.err
    assert "is absolute" not in result.err
