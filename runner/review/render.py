"""review.yaml as text: the same decisions always give the same bytes.

Written by hand rather than by yaml.dump, so that the layout is fixed (fields in a set order,
jobs sorted, no line folding) and every value reads back as written by any YAML reader.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from runner.recipe.loader import STR_TAG, resolve_plain

if TYPE_CHECKING:
    from runner.review.decision_model import Decision, EarlierTake, Review

REVIEW_FORMAT = 1
HEADER = (
    "# Review decisions for this output folder, written by `backdrop review`.\n"
    "# Keyed by output path without extension. Safe to edit by hand; commit it with the images.\n"
    "# sha256: the images a decision was made on; it holds for those images only.\n"
)
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def render_review(review: Review) -> str:
    lines = [HEADER.rstrip("\n"), f"version: {REVIEW_FORMAT}"]
    if not review.decisions:
        lines.append("jobs: {}")
    else:
        lines.append("jobs:")
        lines.extend(_entry(key, review.decisions[key]) for key in sorted(review.decisions))
    return "\n".join(lines) + "\n"


# Each job's lines as last rendered, with the decision they render: a click rewrites the whole
# file, and rendering 5,000 unchanged decisions again took 50 to 80 ms, most of its answer. The
# decisions of an unchanged job are the same objects from one write to the next (load_review
# keeps what it read), so an identity check finds them without hashing.
_RENDERED: dict[str, tuple[Decision, str]] = {}
_RENDERED_MAX = 100_000


def _entry(key: str, decision: Decision) -> str:
    kept = _RENDERED.get(key)
    if kept is not None and kept[0] is decision:
        return kept[1]
    text = "\n".join([f"  {_key(key)}:", *_decision_lines(decision)])
    if len(_RENDERED) >= _RENDERED_MAX:
        _RENDERED.clear()
    _RENDERED[key] = (decision, text)
    return text


def _decision_lines(decision: Decision) -> list[str]:
    lines = [f"    status: {decision.status}"]
    if decision.pick is not None:
        lines.append(f"    pick: {decision.pick}")
    if decision.note:
        lines.append(f"    note: {quote(decision.note)}")
    if decision.take != 1:
        lines.append(f"    take: {decision.take}")
    if decision.sha256:
        lines.append("    sha256:")  # one variant a line: a changed image is a changed line
        lines.extend(f"      - {sha}" for sha in decision.sha256)
    if decision.history:
        lines.append("    history:")
        lines.extend(line for earlier in decision.history for line in _earlier_lines(earlier))
    return lines


def _earlier_lines(earlier: EarlierTake) -> list[str]:
    lines = [f"      - take: {earlier.take}", f"        status: {earlier.status}"]
    if earlier.pick is not None:
        lines.append(f"        pick: {earlier.pick}")
    if earlier.note:
        lines.append(f"        note: {quote(earlier.note)}")
    if earlier.reason:
        lines.append(f"        reason: {quote(earlier.reason)}")
    return lines


def _key(key: str) -> str:
    """A job key, plain when every YAML reader (1.1 or 1.2) would read it back as this text."""
    if _PLAIN.fullmatch(key) and resolve_plain(key) == STR_TAG and _yaml11_tag(key) == STR_TAG:
        return key
    return quote(key)


_YAML11 = Resolver()  # PyYAML's default (YAML 1.1) rules, as other tools read the file


def _yaml11_tag(text: str) -> str:
    tag: str = _YAML11.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


def quote(text: str) -> str:
    """A double-quoted YAML scalar; anything YAML could misread is escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _printable(code):
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:  # pragma: no cover - every code point above 0xFFFF is printable
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _printable(code: int) -> bool:
    # YAML's printable set, minus the characters some readers treat as line breaks (NEL,
    # LS, PS) and the byte-order mark.
    if 0x20 <= code <= 0x7E or code >= 0x10000:
        return True
    return (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029)) or (
        0xE000 <= code <= 0xFFFD and code != 0xFEFF
    )
