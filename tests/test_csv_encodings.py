"""CSV files that are not UTF-8: decoded when charset-normalizer is sure, refused otherwise.

A wrong guess sends garbled prompts to a paid API, so a file readable several ways is refused
with "save as CSV UTF-8", naming the file and the first line that is not UTF-8.
"""

from __future__ import annotations

import codecs

import pytest

from runner.plan.csvfile import read_csv_table

JAPANESE = [
    ("ja-JP", "南部鉄器の急須と木のテーブル、柔らかい朝の光"),
    ("ja-JP-2", "桜の花びらが舞う春の庭、和紙のランプ"),
]
WESTERN = [
    ("fr-FR", "a café terrace, Paris"),
    ("de-DE", "ein gemütlicher Wintergarten"),
]


def csv_bytes(rows: list[tuple[str, str]], encoding: str) -> bytes:
    text = "code,setting\r\n" + "".join(f'{code},"{setting}"\r\n' for code, setting in rows)
    return codecs.encode(text, encoding)


def settings(data: bytes) -> tuple[list[str], str]:
    table, problems = read_csv_table(data, "data/markets.csv")
    assert problems == [], [p.render() for p in problems]
    return [row["setting"] for row in table.rows], table.encoding


def test_shift_jis_from_japanese_excel_is_decoded_correctly():
    values, encoding = settings(csv_bytes(JAPANESE, "shift_jis"))
    assert values == [setting for _, setting in JAPANESE]
    assert encoding == "cp932"  # Microsoft's Shift-JIS, what Excel writes


def test_mac_roman_is_decoded_correctly():
    values, encoding = settings(csv_bytes(WESTERN, "mac_roman"))
    assert values == [setting for _, setting in WESTERN]
    assert encoding == "mac_roman"


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"], ids=lambda e: str(e)
)
def test_the_usual_exports_still_read_the_same(encoding):
    rows = [*WESTERN, ("pl-PL", "naïve façade – Ärger über Öl")]
    values, _ = settings(csv_bytes(rows, encoding))
    assert values == [setting for _, setting in rows]


def test_a_file_readable_several_ways_is_refused_naming_the_first_bad_line():
    # Two kanji and nothing else: Shift-JIS, GB18030 and Mac Roman all read it without a flaw.
    data = "code,name\r\n1,plain\r\n2,急須\r\n".encode("shift_jis")
    table, [problem] = read_csv_table(data, "data/products.csv")
    assert table.rows == ()
    assert problem.headline() == (
        "data/products.csv:3:1: error: this file is not UTF-8 text, and its encoding cannot be "
        "told for sure (line 3 is the first that is not UTF-8)"
    )
    assert "save it again as 'CSV UTF-8'" in (problem.hint or "")


def test_a_short_mac_roman_file_is_refused_rather_than_guessed():
    data = "code,setting\r\nfr-FR,a café terrace\r\n".encode("mac_roman")
    _, problems = read_csv_table(data, "m.csv")
    assert [p.span.line for p in problems if p.span] == [2]
    assert "CSV UTF-8" in (problems[0].hint or "")
