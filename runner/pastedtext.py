"""Characters that Word, Excel, web pages and chats put into text, named for messages.

Typographic quotes look like quotes but are text to YAML and to templates; the invisible
characters look like a space (or like nothing) but are not one. Messages name them (`U+00A0,
non-breaking space`) and point at them, because nobody can see them in an editor.
"""

from __future__ import annotations

# Opening quote -> the closing quotes that may pair with it (languages differ: „…“ in German,
# «…» in French, »…« in Danish, ”…” in Swedish).
QUOTE_PAIRS: dict[str, str] = {
    "\u201c": "\u201d\u201c",  # “…” (and “…“)
    "\u201d": "\u201d",  # ”…”
    "\u201e": "\u201c\u201d",  # „…“ „…”
    "\u2018": "\u2019\u2018",  # ‘…’
    "\u2019": "\u2019",  # ’…’
    "\u201a": "\u2018\u2019",  # ‚…‘
    "\u00ab": "\u00bb",  # «…»
    "\u00bb": "\u00ab\u00bb",  # »…«
}
TYPOGRAPHIC_QUOTES = "\u201c\u201d\u201e\u2018\u2019\u201a\u00ab\u00bb"
DOUBLE_QUOTES = "\u201c\u201d\u201e\u00ab\u00bb"

# Spaces YAML does not count as spaces (a line indented with one, or `key:` followed by one,
# is not what it looks like).
ODD_SPACES: dict[str, str] = {
    "\u00a0": "non-breaking space",
    "\u2007": "figure space",
    "\u202f": "narrow non-breaking space",
    "\u3000": "full-width space",
    "\u2002": "en space",
    "\u2003": "em space",
    "\u2009": "thin space",
    "\u200b": "zero-width space",
    "\ufeff": "zero-width no-break space",
}
INVISIBLE: dict[str, str] = {
    **ODD_SPACES,
    "\u00ad": "soft hyphen",
    "\u2060": "word joiner",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
}
_QUOTE_NAMES = {
    "\u201c": "left double quotation mark",
    "\u201d": "right double quotation mark",
    "\u201e": "low double quotation mark",
    "\u2018": "left single quotation mark",
    "\u2019": "right single quotation mark",
    "\u201a": "low single quotation mark",
    "\u00ab": "left-pointing double angle quotation mark",
    "\u00bb": "right-pointing double angle quotation mark",
}


def char_name(char: str) -> str:
    """`non-breaking space (U+00A0)`, for a character a message must name."""
    name = INVISIBLE.get(char) or _QUOTE_NAMES.get(char)
    code = f"U+{ord(char):04X}"
    return f"{name} ({code})" if name else code


def invisible_in(text: str) -> int | None:
    """The index of the first invisible character in `text`, or None."""
    for index, char in enumerate(text):
        if char in INVISIBLE:
            return index
    return None


def odd_space_in(text: str) -> int | None:
    """The index of the first space that only looks like one (ODD_SPACES) in `text`, or None."""
    for index, char in enumerate(text):
        if char in ODD_SPACES:
            return index
    return None


def without_invisible(text: str) -> str:
    return "".join(char for char in text if char not in INVISIBLE)


def wrapped_in_quotes(text: str) -> bool:
    """Does `text` open with a typographic quote and close with one that pairs with it?"""
    return len(text) >= 2 and text[0] in QUOTE_PAIRS and text[-1] in QUOTE_PAIRS[text[0]]


def straightened(text: str) -> str:
    """`text` with its typographic quotes made straight: “x” -> "x", ‘x’ -> 'x'."""
    return "".join(
        ('"' if char in DOUBLE_QUOTES else "'") if char in TYPOGRAPHIC_QUOTES else char
        for char in text
    )
