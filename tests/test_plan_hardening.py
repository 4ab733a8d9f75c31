"""Planning against careless or hostile input: the API key in data files, a matrix with no
axes or with everything excluded, oversized files, decompression bombs and long file names."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from runner.diagnostics import Diagnostic
from runner.plan.outputs import MAX_FILE_NAME_BYTES
from tests.plan_support import headlines, plan_errors, plan_text, png_bytes

KEY = "mk-live-0123456789abcdef"
HEAD = "version: 1\nname: t\n"
TAIL = 'image: a.png\nprompt: "a mug"\noutput: "{{ m.code }}"\n'


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    return KEY


def render_all(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(d.render() for d in diagnostics)


def test_the_api_key_in_a_csv_axis_file_is_refused_at_its_line(tmp_path, api_key):
    files: dict[str, bytes | str] = {
        "a.png": png_bytes(),
        "m.csv": f"code,note\nfr,ok\nde,{api_key}\n",
    }
    text = HEAD + "matrix:\n  m: { csv: m.csv }\n" + TAIL
    [diagnostic] = plan_errors(tmp_path, text, files)
    assert diagnostic.headline() == (
        "m.csv:3:4: error: this file contains your API key (the value of ONEMIN_API_KEY)"
    )
    assert "ONEMIN_API_KEY" in (diagnostic.hint or "") and "remove" in (diagnostic.hint or "")
    assert api_key not in render_all([diagnostic])
    assert "de,********" in diagnostic.render()


def test_the_api_key_in_a_utf16_csv_is_found(tmp_path, api_key):
    data = f"code,note\nfr,{api_key}\n".encode("utf-16")
    text = HEAD + "matrix:\n  m: { csv: m.csv }\n" + TAIL
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes(), "m.csv": data})
    assert diagnostic.headline().startswith("m.csv:2:4: error: this file contains your API key")


def test_the_api_key_in_a_yaml_axis_file_is_refused_even_with_a_syntax_error(tmp_path, api_key):
    files: dict[str, bytes | str] = {
        "a.png": png_bytes(),
        "m.yaml": f"- code: fr\n- code: [{api_key}\n",
    }
    text = HEAD + "matrix:\n  m: { yaml: m.yaml }\n" + TAIL
    [diagnostic] = plan_errors(tmp_path, text, files)
    assert diagnostic.headline().startswith("m.yaml:2:10: error: this file contains your API key")
    assert api_key not in render_all([diagnostic])


def test_the_api_key_written_with_escapes_in_yaml_is_still_found(tmp_path, api_key):
    escaped = "".join(f"\\x{ord(c):02x}" for c in api_key)
    files: dict[str, bytes | str] = {
        "a.png": png_bytes(),
        "m.yaml": f'- code: fr\n- code: "{escaped}"\n',
    }
    text = HEAD + "matrix:\n  m: { yaml: m.yaml }\n" + TAIL
    [diagnostic] = plan_errors(tmp_path, text, files)
    assert diagnostic.headline() == (
        "m.yaml: error: a value in this file contains your API key (the value of ONEMIN_API_KEY)"
    )


def test_the_api_key_in_a_globbed_file_name_is_refused(tmp_path, api_key):
    files: dict[str, bytes | str] = {"a.png": png_bytes(), f"shots/{api_key}.png": png_bytes()}
    text = HEAD + "matrix:\n  m: { glob: 'shots/*.png' }\n" + TAIL.replace("m.code", "m.stem")
    [diagnostic] = plan_errors(tmp_path, text, files)
    assert "a file name matched by this pattern contains your API key" in diagnostic.message
    assert diagnostic.span is not None and diagnostic.span.line == 4
    assert api_key not in render_all([diagnostic])


def test_no_matrix_is_exactly_one_job_without_matrix_values(tmp_path):
    text = HEAD + 'image: a.png\nprompt: "a mug"\noutput: mug\n'
    plan = plan_text(tmp_path, text, {"a.png": png_bytes()})
    [job] = plan.jobs
    assert job.vars == {} and job.label == "" and job.outputs == ("mug.png",)
    assert plan.axes == ()


def test_an_empty_matrix_is_one_job_too(tmp_path):
    text = HEAD + 'matrix: {}\nimage: a.png\nprompt: "a mug"\noutput: mug\n'
    assert len(plan_text(tmp_path, text, {"a.png": png_bytes()}).jobs) == 1


def test_a_problem_in_the_single_job_says_so(tmp_path):
    text = HEAD + 'image: a.png\nprompt: "{{ colour }}"\noutput: mug\n'
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes()})
    assert diagnostic.message == "'colour' is undefined (in the only job)"


def test_excluding_every_combination_is_an_error(tmp_path):
    text = (
        HEAD + "matrix:\n  m: [a, b]\n  s: [x]\n  exclude:\n    - { s: x }\n"
        'image: a.png\nprompt: "p"\noutput: "{{ m }}"\n'
    )
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes()})
    assert diagnostic.headline() == (
        "recipe.yaml:7:5: error: matrix.exclude: every combination is excluded: the 2 "
        "combinations all match an entry"
    )


def test_a_data_file_larger_than_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("runner.recipe.loader.MAX_DATA_BYTES", 1000)
    files: dict[str, bytes | str] = {
        "a.png": png_bytes(),
        "m.csv": "code\n" + "fr\n" * 500,
        "n.yaml": "- a\n" * 300,
    }
    text = HEAD + "matrix:\n  m: { csv: m.csv }\n  n: { yaml: n.yaml }\n" + TAIL
    assert headlines(plan_errors(tmp_path, text, files)) == [
        "recipe.yaml:4:13: error: matrix.m.csv: the file m.csv is too large (1,505 bytes; the "
        "limit is 1,000 bytes)",
        "recipe.yaml:5:14: error: matrix.n.yaml: the file n.yaml is too large (1,200 bytes; the "
        "limit is 1,000 bytes)",
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_or_device_as_a_data_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "m.csv")
    text = HEAD + "matrix:\n  m: { csv: m.csv }\n" + TAIL
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes()})
    assert "the file m.csv is not a regular file" in diagnostic.message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_as_the_image_is_refused(tmp_path):
    text = HEAD + 'image: /dev/zero\nprompt: "p"\noutput: mug\n'
    [diagnostic] = plan_errors(tmp_path, text, allow_outside=[Path("/dev")])
    assert "the image /dev/zero is not a regular file" in diagnostic.message


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height pixels, a few hundred kilobytes on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_too_large_not_damaged(tmp_path):
    text = HEAD + 'image: big.png\nprompt: "p"\noutput: mug\n'
    [diagnostic] = plan_errors(tmp_path, text, {"big.png": bomb_png(30000, 30000)})
    assert diagnostic.message == (
        "the image big.png is too large (30000 x 30000 pixels) (in the only job)"
    )
    assert "scale it down" in (diagnostic.hint or "")


def test_an_output_name_longer_than_the_file_system_allows_is_refused(tmp_path):
    long_folder = "é" * 128  # 256 bytes in UTF-8, 128 characters
    text = (
        HEAD + "matrix:\n  m: [a]\n"
        f'image: a.png\nprompt: "p"\noutput: "{long_folder}/{{{{ m }}}}"\n'
    )
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes()})
    assert "the folder name" in diagnostic.message
    assert "is 256 bytes long; at most 255 are allowed" in diagnostic.message


def test_the_file_name_leaves_room_for_the_temporary_file(tmp_path):
    stem = "x" * (MAX_FILE_NAME_BYTES - len(".png"))
    ok = HEAD + f'image: a.png\nprompt: "p"\noutput: "{stem}"\n'
    assert plan_text(tmp_path, ok, {"a.png": png_bytes()}).jobs[0].outputs == (f"{stem}.png",)
    [diagnostic] = plan_errors(tmp_path, ok.replace(stem, stem + "x"))
    assert f"at most {MAX_FILE_NAME_BYTES} are allowed" in diagnostic.message
    assert "the file name" in diagnostic.message
