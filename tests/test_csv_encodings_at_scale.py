"""Legacy code pages at scale: a 20 MB file is decided without walking it a character at a time
in Python, and the verdict is the one the whole text gives, wherever the text is cut.

Counted in Python lines run (tests/work_bound.py), not seconds. A wrong guess sends garbled
prompts to a paid API, so what cannot be decided within its bounds is refused, never guessed.
"""

from __future__ import annotations

import pytest

from runner.plan import encodings
from runner.plan.csvfile import read_csv_table
from runner.plan.encodings import guess_legacy_encoding
from runner.plan.realwords import MAX_WORD, TooVaried, chunks, reads_as_real_words
from tests.test_csv_encodings import MARKETS, REAL_TEXT, WESTERN, excel_bytes
from tests.work_bound import python_lines_at_most

SETTING = "一个放在木桌上的白色陶瓷杯子，柔和的自然光，" * 90


def test_a_20_mb_gbk_file_is_decoded_without_walking_it_in_python():
    # Each character of each reading was checked in Python: over 15 s and 500 MB.
    text = "code,setting\r\n" + "".join(f"c{index},{SETTING}\r\n" for index in range(5000))
    data = text.encode("gbk")
    assert len(data) > 19_000_000
    with python_lines_at_most(5_000_000):
        table, problems = read_csv_table(data, "m.csv")
    assert problems == []
    assert table.encoding == "gb18030"
    assert table.rows[4999] == {"code": "c4999", "setting": SETTING}


# Each file is made when its test runs, not when the module is collected (in every worker).
@pytest.mark.parametrize(
    ("name", "make"),
    [
        # 2,000,000 different Cyrillic words: each is a word to check. (One %-format of a
        # million numbers: the same text as " ".join of a million f-strings, in half the time.)
        (
            "words",
            lambda: ("слово%07dсл " * 1_000_000 % tuple(range(1_000_000)))[:-1].encode("cp1251"),
        ),
        # One "word" of 20 million letters: fine as letters, endless to check one by one.
        ("one word", lambda: ("é" * 20_000_000).encode("cp1252")),
        # A symbol between digits, 10 million times: real text in cp1252 and in Mac Roman.
        ("symbols", lambda: ("5…" * 10_000_000).encode("cp1252")),
    ],
    ids=["words", "one word", "symbols"],
)
def test_a_file_too_varied_to_decide_is_refused_within_bounds(name, make):
    data = b"code,setting\r\nx," + make() + b"\r\n"
    with python_lines_at_most(3_000_000):
        table, problems = read_csv_table(data, "m.csv")
    assert table.rows == ()
    assert "save it again as 'CSV UTF-8'" in (problems[0].hint or "")


def files() -> list[bytes]:
    """Files in each market's code page, long enough to be cut in many places."""
    rows = [
        (market, f"{product}, {setting}", encoding)
        for market, encoding, product, setting in MARKETS
    ]
    rows += [("x", text, encoding) for text, encoding in REAL_TEXT]
    rows += [(code, setting, "mac_roman") for code, setting in WESTERN]
    found = []
    for encoding in sorted({encoding for _, _, encoding in rows}):
        lines = [f'{code},"{text}"' for code, text, used in rows if used == encoding]
        text = "code,setting\r\n" + "\r\n".join(lines * 3) + "\r\n"
        found.append(excel_bytes(text, encoding))
    # Files two code pages read as real words, which are refused (tests/test_csv_encodings.py).
    for text, encoding in [
        ("İstanbul'da şık bir kafe", "cp1254"),
        ("Þingvellir, við Reykjavík", "cp1252"),
        ("Keramický hrnček", "cp1250"),
        ("uz marmora galda Rīgā", "cp1257"),
        ("une crème", "cp1252"),
    ]:
        found.append(f"code,setting\r\nx,{text}\r\ny,{text} {text}\r\n".encode(encoding))
    return found


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_the_verdict_is_the_same_wherever_the_text_is_cut(monkeypatch, chunk):
    # The readings are checked piece by piece, each piece ending after an ASCII non-letter:
    # cutting after every one of them must give the verdict of the whole text.
    whole = [guess_legacy_encoding(data) for data in files()]
    assert any(whole) and None in whole  # both outcomes are covered
    monkeypatch.setattr(encodings, "CHUNK", chunk)
    assert [guess_legacy_encoding(data) for data in files()] == whole


def test_the_first_word_in_the_file_decides_between_no_reading_and_no_verdict():
    # Turkish "güneşli" read as cp1252 ("güneþli") fits no language: no reading. The words after
    # it are too long to check: no verdict. The first in the file decides, as it does every run;
    # a set's order (it changes with the string hashes of each run) let a long word come first
    # in most runs, and the file was refused in one run and read in another.
    long_words = " ".join("é" * (MAX_WORD + 1) + "a" * index for index in range(200))
    data = ("güneşli " + long_words).encode("cp1254")
    assert reads_as_real_words(chunks(data, 1 << 16), "cp1252") is False
    with pytest.raises(TooVaried):
        reads_as_real_words(chunks((long_words + " güneşli").encode("cp1254"), 1 << 16), "cp1252")
