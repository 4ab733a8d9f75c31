"""Guess the code page of a spreadsheet export that is not UTF-8, or refuse to guess.

Excel outside the UTF-8 "CSV UTF-8" choice writes the machine's code page: cp1252 or Mac Roman
in Western Europe, cp1250 in Central Europe, cp1251 for Cyrillic, cp1253 Greek, cp1254 Turkish,
cp1255 Hebrew, cp1256 Arabic, cp1257 Baltic, cp1258 Vietnamese, cp874 Thai, Shift-JIS (cp932)
in Japan, GBK or Big5 in China and Taiwan, cp949 in Korea. Nearly any bytes decode in every
single-byte code page, and short CJK files often decode in several double-byte ones, so a
guess must be beyond doubt.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from runner.plan.realwords import CHUNK, ReadBudget, TooVaried, chunks, reads_as_real_words

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
# Characters the single-byte readings of one file may read together: the real reading of a
# 20 MB file read to its end, and the misreadings, which stop at their first piece (a second
# reading read to its end would refuse the file anyway). A larger file that is not UTF-8 is
# refused rather than guessed slowly; so is one whose double-byte reading charset-normalizer
# gave up on and that is longer than MAX_MESS_CHARS.
MAX_READ_CHARS = 30_000_000
MAX_MESS_CHARS = 1_000_000


@dataclass(frozen=True)
class _Reading:
    encoding: str
    text: str
    chaos: float
    plausible: bool  # see _in_core_standard


def guess_legacy_encoding(data: bytes) -> str | None:
    """The legacy encoding of `data` when the reading is beyond doubt, else None."""
    reading = read_legacy(data)
    return None if reading is None else reading[1]


def read_legacy(data: bytes) -> tuple[str, str] | None:
    """The text of `data` (as decode_legacy gives it) and its legacy encoding when the reading
    is beyond doubt, else None: the text the guess decoded, not decoded again.

    A single-byte reading is believed when it is the only one made of real words of its code
    page's languages (runner/plan/realwords.py) and no double-byte reading rivals it: cp1252
    and cp1254 differ in six letters, so Icelandic "Ýmir" and Turkish "İmir" both stand and the
    file is refused. Double-byte readings are told apart by charset-normalizer's chaos, with a
    clear margin. A wrong guess sends garbled prompts to a paid API, so any doubt refuses.
    """
    budget = ReadBudget(MAX_READ_CHARS)
    present = _bytes_beyond_ascii(data)
    worded: dict[str, str] = {}  # the characters of the bytes used -> the code page
    for encoding in SINGLE_BYTE:
        try:
            # Two code pages that read the bytes this file uses alike give the same text.
            seen_as = present.decode(encoding)
        except UnicodeDecodeError:
            continue  # a byte the code page lacks: no reading at all
        if seen_as in worded:
            continue
        try:
            # Read a piece at a time, each ending just after an ASCII byte that is no letter:
            # a misreading stops at its first.
            pieces = chunks(data, CHUNK)
            real = reads_as_real_words(pieces, encoding, budget, nfc=encoding == "cp1258")
        except TooVaried:
            return None  # more than a verdict may cost: refused, never guessed
        if real:
            worded[seen_as] = encoding
            if len(worded) > 1:
                return None  # two readings stand: refused, whatever the others say
    readings = _double_byte_readings(data)
    if not worded:
        best = _clear_double_byte_reading(data, readings)
        return None if best is None else (best.text, best.encoding)
    [encoding] = worded.values()
    text = decode_legacy(data, encoding)
    rivals = [
        r for r in readings.values() if r.plausible and r.text != text and not _wedged(r.text)
    ]
    return None if rivals else (text, encoding)


_ASCII = bytes(range(0x80))
_SAMPLE = 4096  # bytes looked at one by one per round of _bytes_beyond_ascii
_SAMPLE_ROUNDS = 4


def _bytes_beyond_ascii(data: bytes) -> bytes:
    """The distinct bytes above 0x7F that `data` holds, in order.

    A byte found in a sample is taken out of the rest in one pass (bytes.translate), which
    leaves what the sample did not show: a file's bytes mostly show in its first kilobytes.
    Searching the whole file for each of the 128 bytes took ~0.1 s for 20 MB, most of it for
    the bytes it does not hold; that is what is left to do after a few rounds.
    """
    rest = data.translate(None, _ASCII)
    found: set[int] = set()
    for _ in range(_SAMPLE_ROUNDS):
        if not rest:
            break
        found.update(rest[:_SAMPLE])
        rest = rest.translate(None, bytes(found))
    if rest:
        found.update(b for b in range(0x80, 0x100) if b not in found and bytes((b,)) in rest)
    return bytes(sorted(found))


def decode_legacy(data: bytes, encoding: str) -> str:
    """`data` read in a legacy code page; cp1258's separate tone marks joined to their letters."""
    text = data.decode(encoding)
    return unicodedata.normalize("NFC", text) if encoding == "cp1258" else text


_WEDGED = re.compile(r"[A-Za-z][^\x00-\x7f][A-Za-z]")


def _wedged(text: str) -> bool:
    """Whether a CJK character sits between two ASCII letters, as "crème" read as Shift-JIS."""
    return _WEDGED.search(text) is not None


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


def _clear_double_byte_reading(data: bytes, readings: dict[str, _Reading]) -> _Reading | None:
    """The double-byte reading clearly less garbled than every other plausible one, if any
    (its text is `data` decoded in its encoding: decode_legacy's for a double-byte one)."""
    if not readings:
        return None
    if len(readings) == 1:  # nothing to confuse it with, but it may still be another code page
        only = next(iter(readings.values()))
        readings = {only.text: _Reading(only.encoding, only.text, 0.0, True)}
    measured = _chaos_by_text(data, readings)
    chaos: dict[str, float] = {}
    for text, value in measured.items():
        if value is None:
            if readings[text].plausible:
                return None  # a long plausible reading charset-normalizer gave up on: unsure
            value = 1.0
        chaos[text] = value
    scored = [_Reading(r.encoding, r.text, chaos[r.text], r.plausible) for r in readings.values()]
    plausible = sorted((r for r in scored if r.plausible), key=_chaos)
    if not plausible or plausible[0].chaos > _MAX_CHAOS:
        return None
    best = plausible[0]
    if best.encoding == "cp949" and _hangul_touches_han(best.text):
        return None  # GB 2312 read as cp949 interleaves syllables and Hanja ("豆냄돨꿱빗憬능")
    if any(other.chaos - best.chaos < _CLEAR_MARGIN for other in plausible[1:]):
        return None
    return best


def _chaos(reading: _Reading) -> float:
    return reading.chaos


def _chaos_by_text(data: bytes, readings: dict[str, _Reading]) -> dict[str, float | None]:
    """charset-normalizer's chaos ratio of each reading; for one it gave up on, the ratio of the
    whole text, or None when that text is longer than MAX_MESS_CHARS (measured, it would take
    seconds: charset-normalizer itself measures samples)."""
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    measured = {
        str(match): match.chaos for match in from_bytes(data, cp_isolation=list(DOUBLE_BYTE))
    }
    chaos: dict[str, float | None] = {}
    for text in readings:
        if text in measured:
            chaos[text] = measured[text]
        elif len(text) <= MAX_MESS_CHARS:
            chaos[text] = mess_ratio(text, maximum_threshold=1.0)
        else:
            chaos[text] = None
    return chaos


def _in_core_standard(text: str, encoding: str) -> bool:
    """Whether a double-byte reading stays inside the national standard real text uses.

    charset-normalizer's chaos cannot tell CJK code pages apart: Shift-JIS read as cp949 scores
    0.0 ("떈뱒궻먄궔궶뭴렭"). What gives a wrong reading away is where it lands: in cp949's
    extension Hangul or GBK's extension rows (bytes below 0xA1), or in Shift-JIS's half-width
    katakana and vendor rows, which real text in those code pages rarely uses. One regular
    expression search, for a character outside that standard.
    """
    if encoding == "big5":
        return True
    return _outside_core(encoding).search(text) is None


@functools.cache
def _outside_core(encoding: str) -> re.Pattern[str]:
    """A character neither ASCII nor in `encoding`'s national standard (see _core_char)."""
    if encoding == "cp932":
        leads = [*range(0x81, 0xA0), *range(0xE0, 0xFD)]
        trails = [*range(0x40, 0x7F), *range(0x80, 0xFD)]
    else:
        leads = trails = list(range(0xA1, 0xFF))
    core = set()
    for lead in leads:
        for trail in trails:
            try:
                char = bytes((lead, trail)).decode(encoding)
            except UnicodeDecodeError:
                continue
            if len(char) == 1 and _core_char(char, encoding):
                core.add(char)
    allowed = "".join(sorted(re.escape(char) for char in core))
    return re.compile(f"[^\\x00-\\x7f{allowed}]")


def _core_char(char: str, encoding: str) -> bool:
    """Whether a character outside ASCII is in the standard real text uses."""
    if encoding == "cp932":
        try:
            return len(char.encode("shift_jis")) == 2  # not half-width katakana
        except UnicodeEncodeError:
            return False  # NEC and IBM vendor characters, outside JIS X 0208
    encoded = char.encode(encoding)
    return len(encoded) == 2 and min(encoded) >= 0xA1  # KS X 1001 (cp949), GB 2312 (gb18030)


_HANGUL = "\uac00-\ud7a3"
_HAN = "\u4e00-\u9fff\uf900-\ufaff"
_HANGUL_BESIDE_HAN = re.compile(f"[{_HANGUL}][{_HAN}]|[{_HAN}][{_HANGUL}]")


def _hangul_touches_han(text: str) -> bool:
    """Whether a Hangul syllable stands right next to a Han character.

    Only a refusal rests on this: Korean written with Hanja attaches particles to them too.
    """
    return _HANGUL_BESIDE_HAN.search(text) is not None
