"""The letters each language writes, grouped by the single-byte code page Excel saves it in.

A reading of a legacy CSV is only believed when every word fits one language of its code page
(runner/plan/realwords.py). The sets are generous on purpose (loanwords, place names): real
text must always pass, so that only misreadings fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Script(Enum):
    LATIN = "latin"  # ASCII letters belong in the same words
    CASED = "cased"  # Cyrillic, Greek: a word never mixes them with ASCII letters
    UNCASED = "uncased"  # Hebrew, Arabic, Thai: may touch ASCII letters, in runs of 2 or more


@dataclass(frozen=True)
class Alphabet:
    language: str
    letters: frozenset[str]  # non-ASCII letters and marks, both cases
    script: Script = Script.LATIN


def _latin(language: str, small: str) -> Alphabet:
    capitals = (char.upper() for char in small)
    letters = frozenset(small) | {c for c in capitals if len(c) == 1 and not c.isascii()}
    return Alphabet(language, letters)


def _cased(language: str, small: str) -> Alphabet:
    return Alphabet(language, _latin(language, small).letters, Script.CASED)


def _block(language: str, first: int, last: int, extra: str = "") -> Alphabet:
    letters = frozenset(chr(code) for code in range(first, last + 1)) | frozenset(extra)
    return Alphabet(language, letters, Script.UNCASED)


# Western Europe: what cp1252 and Mac Roman are for.
WESTERN = (
    _latin("French", "àâæçéèêëîïôœùûüÿ"),
    _latin("German", "äöüßé"),
    _latin("Spanish", "áéíñóúü"),
    _latin("Italian", "àèéìíòóù"),
    _latin("Portuguese", "áâãàçéêíóôõúü"),
    _latin("Dutch", "áéíóúàèëïöü"),
    _latin("Catalan", "àçèéíïòóúü"),
    _latin("Danish/Norwegian", "æøåéóàô"),
    _latin("Swedish/Finnish", "åäöéšž"),
    _latin("Icelandic", "áðéíóúýþæö"),
    _latin("Estonian", "äõöüšž"),
)
# What Turkish Excel's cp1254 holds besides Western letters (it has no Ð ð Ý ý Þ þ).
TURKISH = _latin("Turkish", "çğıöşüâîûİ")
POLISH = _latin("Polish", "ąćęłńóśźż")
GERMAN_EAST = _latin("German", "äöüßé")  # the German letters in cp1250 and cp1257

_RUSSIAN = "абвгдежзийклмнопрстуфхцчшщъыьэюяё"
_VIETNAMESE_BASES = "aăâeêioôơuưy"
_VIETNAMESE_TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")


def _vietnamese() -> Alphabet:
    import unicodedata

    small = {
        unicodedata.normalize("NFC", base + tone)
        for base in _VIETNAMESE_BASES
        for tone in _VIETNAMESE_TONES
    }
    return _latin("Vietnamese", "".join(small) + "đ")


VIETNAMESE = _vietnamese()

ALPHABETS: dict[str, tuple[Alphabet, ...]] = {
    "cp1252": WESTERN,
    "mac_roman": WESTERN,
    "cp1250": (
        POLISH,
        _latin("Czech", "áčďéěíňóřšťúůýž"),
        _latin("Slovak", "áäčďéíĺľňóôŕšťúýž"),
        _latin("Hungarian", "áéíóöőúüű"),
        _latin("Romanian", "ăâîşţ"),
        _latin("Croatian/Slovenian", "čćđšž"),
        _latin("Albanian", "çë"),
        GERMAN_EAST,
    ),
    "cp1251": (
        _cased("Russian", _RUSSIAN),
        _cased("Ukrainian", _RUSSIAN.translate(str.maketrans("", "", "ёъыэ")) + "ґєії"),
        _cased("Belarusian", _RUSSIAN.translate(str.maketrans("", "", "иъщ")) + "іў"),
        _cased("Bulgarian", _RUSSIAN.translate(str.maketrans("", "", "ёыэ"))),
        _cased("Serbian", "абвгдђежзијклљмнњопрстћуфхцчџш"),
        _cased("Macedonian", "абвгдѓежзѕијклљмнњопрстќуфхцчџш"),
    ),
    "cp1253": (_cased("Greek", "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώϊϋΐΰς"),),
    "cp1254": (TURKISH, *(a for a in WESTERN if a.language != "Icelandic")),
    # Hebrew letters and points.
    "cp1255": (_block("Hebrew", 0x05B0, 0x05EA, "װױײ"),),
    # Arabic and the Persian/Urdu letters cp1256 holds; French letters for the Maghreb.
    "cp1256": (
        _block("Arabic", 0x0621, 0x0652, "ٹپچڈڑژکگںھہےۀۓ"),
        _latin("French", "àâçèéêëîïôùûü"),
    ),
    "cp1257": (
        _latin("Lithuanian", "ąčęėįšųūž"),
        _latin("Latvian", "āčēģīķļņšūž"),
        # Polish is left out: nobody writes it in cp1257, and Italian "più" read as cp1257 is
        # the Polish-looking "pił".
        _latin("Estonian", "äõöüšž"),
        GERMAN_EAST,
        _latin("Scandinavian", "åäöæøé"),
    ),
    "cp1258": (VIETNAMESE, *WESTERN),
    "cp874": (_block("Thai", 0x0E01, 0x0E5B),),
}
