"""The `slug` filter: text made safe for file names and URLs, in any script."""

from __future__ import annotations

import functools
import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class FilterError(ValueError):
    """A Backdrop filter cannot do what the recipe asks; the message says why, for people."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def slug(value: object) -> str:
    """'Crème Brûlée / Winter' -> 'creme-brulee-winter'; '南部鉄器の急須' stays '南部鉄器の急須'.

    Letters and digits of every script are kept (lower case, NFC); accents on Latin letters are
    dropped as before, so ASCII and accented Latin text gives the same names as it always did.
    Everything else becomes one '-' between words.
    """
    text = str(value)
    result = _slug_short(text) if len(text) <= 200 else _slug_text(text)
    if not result and text.strip():
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise FilterError(
            f"| slug removed every character of {shown!r}: it keeps only letters and digits",
            hint="slug a value that has letters or digits, or write the name without | slug",
        )
    return result


# Jobs repeat their values: planning 100k jobs slugs a few hundred names (short ones are kept).
@functools.lru_cache(maxsize=4096)
def _slug_short(value: str) -> str:
    return _slug_text(value)


def _slug_text(value: str) -> str:
    text = unicodedata.normalize("NFKD", value).casefold()
    if text.isascii():
        return _NOT_ALNUM.sub("-", text).strip("-")
    kept: list[str] = []
    gap = False
    after_ascii = True
    for char in text:
        if unicodedata.category(char).startswith("M"):  # accents, vowel signs, voicing marks
            if kept and not gap and not after_ascii:
                kept.append(char)
            continue
        if char.isalnum():
            if gap and kept:
                kept.append("-")
            gap = False
            kept.append(char)
            after_ascii = char.isascii()
        else:
            gap = True
    return unicodedata.normalize("NFC", "".join(kept))
