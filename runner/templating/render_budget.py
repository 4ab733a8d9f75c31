"""What one render may cost: a work budget, a time budget, and the text size of any value.

The size guards in sandbox_limits.py bound each single operation; this bounds their sum. Every loop
iteration, call and filter is charged one unit plus the length of what it built, so that a
template cannot fill the memory a piece at a time (`range(99999)|map('upper')|list` over long
text) or loop without end (`{% for %}` over range(99999), two or three deep). The work budget is
deterministic (the same recipe fails the same way on every machine); the time budget is a
backstop for work the units do not see. Imported lazily: it imports jinja2.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from jinja2.runtime import Undefined
from jinja2.utils import Namespace

MAX_TEXT = 100_000  # longest string (or list) one operation may build
# Units one render may use: 5 times MAX_RENDERED, so that what a template prints (charged
# too) hits MAX_RENDERED first; at most ~20 MB of text built, ~1.5 s of loop steps.
MAX_WORK = 5_000_000
MAX_SECONDS = 1.0  # one render's wall-clock backstop
_CLOCK_EVERY = 4096  # charges between two looks at the clock


class TooLarge(Exception):
    """A template asked for a value too large for a recipe (the message says which)."""


class TooMuchWork(TooLarge):
    """A render used its whole work or time budget: later renders of the template are skipped."""


class RenderBudget:
    """The units and time left to the current render (reset when a render starts)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.left = MAX_WORK
        self.deadline = 0.0  # set at the first look at the clock: most renders never look
        self.until_clock = _CLOCK_EVERY

    def used(self) -> int:
        """Units the current (or last) render used; a render stopped by the clock used them all."""
        return MAX_WORK - max(self.left, 0)

    def state(self) -> tuple[int, float, int]:
        return self.left, self.deadline, self.until_clock

    def restore(self, state: tuple[int, float, int]) -> None:
        self.left, self.deadline, self.until_clock = state

    def charge(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise TooMuchWork(
                f"the template does too much work (more than {MAX_WORK:,} steps: loops, "
                "calls and text built)"
            )
        self.until_clock -= 1
        if self.until_clock <= 0:
            self.until_clock = _CLOCK_EVERY
            now = time.monotonic()
            if not self.deadline:
                self.deadline = now + MAX_SECONDS  # (the first 4,096 steps take milliseconds)
            elif now > self.deadline:
                self.left = 0  # counts as a whole budget used (see used())
                raise TooMuchWork(f"the template takes more than {MAX_SECONDS:g} s for one job")

    def charge_result(self, value: Any) -> None:
        """One unit, plus the length of a string or list just built."""
        sized = isinstance(value, str | list | tuple | dict)
        self.charge(1 + (len(value) if sized else 0))

    def loop(self, iterable: Any) -> Any:
        """Iterate `iterable`, one unit per item (wraps every `{% for %}`)."""
        for item in iterable:
            self.charge(1)
            yield item


def text_size(value: Any, what: str, limit: int = MAX_TEXT) -> int:
    """About how long `value` is as text (str() or JSON), refusing it past `limit`.

    Counts without building the text: `['x' * 99999] * 99999` is a small list of one shared
    string, and 10 GB once printed. Each item costs at least one, so the walk stops early.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Undefined):
            continue  # printing it raises the undefined-name error instead
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, Namespace):
            total += 13
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8  # numbers, None, macros, generators: short as text
        if total > limit:
            raise TooLarge(f"{what} would make text longer than {limit:,} characters")
    return total
