"""Values in GitHub Markdown (the pull-request comment, the job summary) as their literal text.

A recipe, CSV file or lock comes from a pull request, and the comment is posted by a bot with
write access: a value must never become an image (`![x](http://evil/p.png)` beacons), a link
(`[c](javascript:...)`, `www.evil.example`, `https://...`, an e-mail address), raw HTML (a
`</details>` that closes ours), emphasis or a code span (which eat `*`, `_` and backticks), a
table cell (`|`), GitHub math (`$`), or a mention (`@octocat`, `@org/team` notify people) or an
issue reference (`#12` puts a "mentioned this" event on issue 12).

So every ASCII punctuation character with a meaning is backslash-escaped (CommonMark renders
`\\*` as `*`, and cmark-gfm's autolinks need an unescaped `:` or `www.`), and `@` and `#` before
a digit are followed by a zero-width space, written `&#8203;` as Dependabot and Renovate do,
which GitHub's mention and reference filters do not read through. Lengths are counted in UTF-16
code units, as many as or more than GitHub counts, so that a size promise holds either way.
"""

from __future__ import annotations

import re

from runner.printable import controls_shown

CELL = 200  # the most of one value shown in a table cell or a list item, escapes included
ZERO_WIDTH = "&#8203;"
ELLIPSIS = "…"
# ASCII punctuation with a meaning in GitHub Markdown somewhere in a line; the rest (, . - ' ...)
# means something only at a line's start, where a value never is.
_ESCAPED = frozenset("\\`*_~[]<>|&$:")
_WWW_DOT = re.compile(r"(?i)(?<=www)\.")
_REFERENCE = re.compile(r"#(?=[0-9])")


def utf16_len(text: str) -> int:
    """How long `text` is for a limit counted in UTF-16 code units (an emoji counts 2)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def md_text(value: object, limit: int = CELL) -> str:
    """`value` on one line, shown as its literal text in GitHub Markdown (table cells included),
    at most `limit` UTF-16 code units long, escapes included: cut with "…" when longer."""
    text = controls_shown(" ".join(str(value).split()))
    pieces: list[str] = []
    used = 0
    for index, char in enumerate(text):
        if char in _ESCAPED:
            piece = "\\" + char
        elif char == "@" or (char == "#" and _REFERENCE.match(text, index)):
            piece = char + ZERO_WIDTH
        elif char == "." and _WWW_DOT.match(text, index):
            piece = "\\."
        else:
            piece = char
        size = len(piece) + (ord(char) > 0xFFFF)
        if used + size > limit - (0 if index == len(text) - 1 else 1):
            pieces.append(ELLIPSIS)
            break
        pieces.append(piece)
        used += size
    return "".join(pieces)


def md_code(value: object, limit: int = CELL) -> str:
    """`value` in a monospace font, as literal as md_text (a backtick code span could not hold
    every value: its content cannot be escaped)."""
    return f"<code>{md_text(value, limit)}</code>"
