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
