"""The `slug` filter: text made safe for file names and URLs, in any script."""

from __future__ import annotations

import unicodedata


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
    text = unicodedata.normalize("NFKD", str(value)).casefold()
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
    result = unicodedata.normalize("NFC", "".join(kept))
    if not result and str(value).strip():
        shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
        raise FilterError(
            f"| slug removed every character of {shown!r}: it keeps only letters and digits",
            hint="slug a value that has letters or digits, or write the name without | slug",
        )
    return result
