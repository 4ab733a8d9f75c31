"""Guess the code page of a spreadsheet export that is not UTF-8, or refuse to guess.

Excel outside the UTF-8 "CSV UTF-8" choice writes the machine's code page: cp1252 or Mac Roman
in Western Europe, cp1250 in Central Europe, cp1251 for Cyrillic, cp1253 Greek, cp1254 Turkish,
cp1255 Hebrew, cp1256 Arabic, cp1257 Baltic, cp1258 Vietnamese, cp874 Thai, Shift-JIS (cp932)
in Japan, GBK or Big5 in China and Taiwan, cp949 in Korea. Nearly any bytes decode in every
single-byte code page, and short CJK files often decode in several double-byte ones, so a
guess must be beyond doubt.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass

from runner.plan.realwords import reads_as_real_words

# What spreadsheet programs write when they do not write UTF-8, per market.
SINGLE_BYTE = (
    "cp1252",
    "mac_roman",
    "cp1250",
    "cp1251",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "cp874",
)
DOUBLE_BYTE = ("cp932", "gb18030", "big5", "cp949")
# How much less "mess" (charset-normalizer's chaos ratio) the best reading must show than any
# other plausible reading that gives different text. Measured on generated Japanese, Korean and
# Chinese files (tests/test_csv_encodings.py): 0.02 let Shift-JIS through as Korean; 0.1 never
# decoded to different text.
_CLEAR_MARGIN = 0.1
_MAX_CHAOS = 0.2


@dataclass(frozen=True)
class _Reading:
    encoding: str
    text: str
    chaos: float
    plausible: bool  # see _in_core_standard


def guess_legacy_encoding(data: bytes) -> str | None:
    """The legacy encoding of `data` when the reading is beyond doubt, else None.

    A single-byte reading is believed when it is the only one made of real words of its code
    page's languages (runner/plan/realwords.py) and no double-byte reading rivals it: cp1252
    and cp1254 differ in six letters, so Icelandic "Ýmir" and Turkish "İmir" both stand and the
    file is refused. Double-byte readings are told apart by charset-normalizer's chaos, with a
    clear margin. A wrong guess sends garbled prompts to a paid API, so any doubt refuses.
    """
    worded: dict[str, str] = {}
    for encoding in SINGLE_BYTE:
        try:
            text = decode_legacy(data, encoding)
        except UnicodeDecodeError:
            continue
        if text not in worded and reads_as_real_words(text, encoding):
            worded[text] = encoding
            if len(worded) > 1:
                return None  # two readings stand: refused, whatever the others say
    readings = _double_byte_readings(data)
    if not worded:
        return _clear_double_byte_reading(data, readings)
    [(text, encoding)] = worded.items()
    rivals = [
        r for r in readings.values() if r.plausible and r.text != text and not _wedged(r.text)
    ]
    return None if rivals else encoding


def decode_legacy(data: bytes, encoding: str) -> str:
    """`data` read in a legacy code page; cp1258's separate tone marks joined to their letters."""
    text = data.decode(encoding)
    return unicodedata.normalize("NFC", text) if encoding == "cp1258" else text


def _wedged(text: str) -> bool:
    """Whether a CJK character sits between two ASCII letters, as "crème" read as Shift-JIS."""
    return any(
        not middle.isascii()
        and left.isascii()
        and left.isalpha()
        and right.isascii()
        and right.isalpha()
        for left, middle, right in zip(text, text[1:], text[2:], strict=False)
    )


def _double_byte_readings(data: bytes) -> dict[str, _Reading]:
    readings: dict[str, _Reading] = {}
    for encoding in DOUBLE_BYTE:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        in_core = _in_core_standard(text, encoding)
        if text not in readings or (in_core and not readings[text].plausible):
            readings[text] = _Reading(encoding, text, 0.0, in_core)
    return readings


def _clear_double_byte_reading(data: bytes, readings: dict[str, _Reading]) -> str | None:
    """The double-byte reading clearly less garbled than every other plausible one, if any."""
    if not readings:
        return None
    if len(readings) == 1:  # nothing to confuse it with, but it may still be another code page
        only = next(iter(readings.values()))
        readings = {only.text: _Reading(only.encoding, only.text, 0.0, True)}
    chaos = _chaos_by_text(data, readings)
    scored = [_Reading(r.encoding, r.text, chaos[r.text], r.plausible) for r in readings.values()]
    plausible = sorted((r for r in scored if r.plausible), key=_chaos)
    if not plausible or plausible[0].chaos > _MAX_CHAOS:
        return None
    best = plausible[0]
    if best.encoding == "cp949" and _hangul_touches_han(best.text):
        return None  # GB 2312 read as cp949 interleaves syllables and Hanja ("豆냄돨꿱빗憬능")
    if any(other.chaos - best.chaos < _CLEAR_MARGIN for other in plausible[1:]):
        return None
    return best.encoding


def _chaos(reading: _Reading) -> float:
    return reading.chaos


def _chaos_by_text(data: bytes, readings: dict[str, _Reading]) -> dict[str, float]:
    """charset-normalizer's chaos ratio of each reading (1.0 when it gave up on one)."""
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    measured = {
        str(match): match.chaos for match in from_bytes(data, cp_isolation=list(DOUBLE_BYTE))
    }
    return {
        text: measured[text] if text in measured else mess_ratio(text, maximum_threshold=1.0)
        for text in readings
    }


def _in_core_standard(text: str, encoding: str) -> bool:
    """Whether a double-byte reading stays inside the national standard real text uses.

    charset-normalizer's chaos cannot tell CJK code pages apart: Shift-JIS read as cp949 scores
    0.0 ("떈뱒궻먄궔궶뭴렭"). What gives a wrong reading away is where it lands: in cp949's
    extension Hangul or GBK's extension rows (bytes below 0xA1), or in Shift-JIS's half-width
    katakana and vendor rows, which real text in those code pages rarely uses.
    """
    if encoding == "big5":
        return True
    for char in text:
        if char.isascii():
            continue
        if encoding == "cp932":
            try:
                if len(char.encode("shift_jis")) != 2:
                    return False  # half-width katakana
            except UnicodeEncodeError:
                return False  # NEC and IBM vendor characters, outside JIS X 0208
        else:
            encoded = char.encode(encoding)
            if len(encoded) != 2 or min(encoded) < 0xA1:
                return False  # outside KS X 1001 (cp949) or GB 2312 (gb18030)
    return True


def _hangul_touches_han(text: str) -> bool:
    """Whether a Hangul syllable stands right next to a Han character.

    Only a refusal rests on this: Korean written with Hanja attaches particles to them too.
    """
    for left, right in itertools.pairwise(text):
        kinds = {_script(left), _script(right)}
        if kinds == {"hangul", "han"}:
            return True
    return False


def _script(char: str) -> str:
    code = ord(char)
    if 0xAC00 <= code <= 0xD7A3:
        return "hangul"
    if 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF:
        return "han"
    return "other"
