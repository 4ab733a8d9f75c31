"""Guess the code page of a spreadsheet export that is not UTF-8, or refuse to guess.

Excel outside the UTF-8 "CSV UTF-8" choice writes the machine's code page: cp1252 or Mac Roman
in Western Europe, Shift-JIS (cp932) in Japan, GBK or Big5 in China and Taiwan, cp949 in Korea.
Short CJK files often decode in several of them, so a guess must be beyond doubt.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass

# What spreadsheet programs write when they do not write UTF-8: Windows and Mac Excel in
# Western Europe, and the default "CSV" of Japanese, Chinese and Korean Excel.
LEGACY_ENCODINGS = ("cp1252", "mac_roman", "cp932", "gb18030", "big5", "cp949")
_SINGLE_BYTE = ("cp1252", "mac_roman")
# How much less "mess" (charset-normalizer's chaos ratio) the best reading must show than any
# other plausible reading that gives different text. Measured on generated Japanese, Korean,
# Chinese and Mac Roman files (tests/test_csv_encodings.py): 0.02 let Shift-JIS through as
# Korean and Mac Roman as cp1252; 0.1 never decoded to different text.
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

    Every code page that decodes the bytes is a candidate; a reading no other contradicts must
    still look like text (a Russian cp1251 file is no Western text). Otherwise the least
    garbled plausible reading (chaos as charset-normalizer measures it) must be clearly ahead
    of every other plausible reading that gives different text; cp1252 and Mac Roman are told
    apart by a misreading's marks, and a Western winner must bear none.
    A wrong guess sends garbled prompts to a paid API, so any doubt refuses.
    """
    readings: dict[str, _Reading] = {}
    for encoding in LEGACY_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        in_core = _in_core_standard(text, encoding)
        if text not in readings or (in_core and not readings[text].plausible):
            readings[text] = _Reading(encoding, text, 0.0, in_core)
    if not readings:
        return None
    if len(readings) == 1:  # nothing to confuse it with, but it may still be another code page
        only = next(iter(readings.values()))
        readings = {only.text: _Reading(only.encoding, only.text, 0.0, True)}
    chaos = _chaos_by_text(data, readings)
    scored = [_Reading(r.encoding, r.text, chaos[r.text], r.plausible) for r in readings.values()]
    plausible = _drop_western_misreadings(sorted((r for r in scored if r.plausible), key=_chaos))
    if plausible is None or not plausible or plausible[0].chaos > _MAX_CHAOS:
        return None
    best = plausible[0]
    if best.encoding in _SINGLE_BYTE and (
        _symbol_inside_a_word(best.text) or _misreading_mark(best.text)
    ):
        return None  # e.g. Shift-JIS half-width katakana read as Mac Roman: "∂¿∂≈ÅAã}"
    if best.encoding == "cp949" and _hangul_touches_han(best.text):
        return None  # GB 2312 read as cp949 interleaves syllables and Hanja ("豆냄돨꿱빗憬능")
    if any(other.chaos - best.chaos < _CLEAR_MARGIN for other in plausible[1:]):
        return None
    return best.encoding


def _chaos(reading: _Reading) -> float:
    return reading.chaos


def _drop_western_misreadings(readings: list[_Reading]) -> list[_Reading] | None:
    """Without the Western readings that bear a misreading's mark; None when two bear none.

    cp1252 read as Mac Roman turns "café" into "cafÈ", Mac Roman read as cp1252 turns "déjà"
    into "dŽjˆ": that mark decides. Without one, chaos does not: cp1252 "Acme™ mug" scored as
    more messy than its Mac Roman misreading "Acmeô mug". Two clean readings refuse.
    """
    western = [r for r in readings if r.encoding in _SINGLE_BYTE]
    clean = [r for r in western if not _misreading_mark(r.text)]
    if len(clean) > 1:
        return None
    if not clean:
        return readings  # the veto on a marked winner refuses, unless a CJK reading wins
    return [r for r in readings if r.encoding not in _SINGLE_BYTE or r in clean]


def _chaos_by_text(data: bytes, readings: dict[str, _Reading]) -> dict[str, float]:
    """charset-normalizer's chaos ratio of each reading (1.0 when it gave up on one)."""
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    measured = {
        str(match): match.chaos for match in from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS))
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
    if encoding in (*_SINGLE_BYTE, "big5"):
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


# Apostrophes and the Catalan middle dot are the symbols real words hold ("l’été", "col·lecció").
_WORD_SYMBOLS = frozenset("’‘·")


def _symbol_inside_a_word(text: str) -> bool:
    """Whether a non-ASCII symbol sits between two letters, as in "pi–ata" or "M‰nchen".

    Mac Roman read as cp1252 (or the reverse) turns accented letters into dashes, daggers and
    ellipses inside words, and charset-normalizer sometimes finds that less messy than the
    right reading ("déjà and piñata Öl" scored 0.154, its cp1252 misreading 0.054).
    """
    for index in range(1, len(text) - 1):
        char = text[index]
        if char.isascii() or char in _WORD_SYMBOLS:
            continue
        if unicodedata.category(char) in _LETTERS:
            continue
        if text[index - 1].isalpha() and text[index + 1].isalpha():
            return True
    return False


_LETTERS = frozenset(("Lu", "Ll", "Lt", "Lo"))


# Symbols the Western code pages make of accented letters or CJK bytes, and that real words
# never touch (dashes, quotes and ™ are left out: "Paris–Berlin", "l’été", "Acme™" are real).
_MISREAD_SYMBOLS = frozenset("‚ƒ„…†‡ˆ‰‹›•˜¸˘˙˚˝˛ˇ¯√∆≈∂∑∏π∫Ω")


def _misreading_mark(text: str) -> bool:
    """An accented capital right after a small letter ("cafÈ", "dŽjà"), or a symbol from
    _MISREAD_SYMBOLS touching a letter ("dŽjˆ", "…l"): what a wrong Western code page leaves."""
    for index, char in enumerate(text):
        if char.isascii():
            continue
        before = text[index - 1] if index else " "
        after = text[index + 1] if index + 1 < len(text) else " "
        if char.isupper() and before.islower():
            return True
        if char in _MISREAD_SYMBOLS and (before.isalpha() or after.isalpha()):
            return True
    return False


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
