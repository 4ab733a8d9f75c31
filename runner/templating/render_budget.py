"""What one render may cost: a work budget, a time budget, and the text size of any value.

The size guards in sandbox_limits.py bound each single operation; this bounds their sum. Every loop
iteration, call and filter is charged one unit plus the length of what it built, so that a
template cannot fill the memory a piece at a time (`range(99999)|map('upper')|list` over long
text) or loop without end (`{% for %}` over range(99999), two or three deep). The work budget is
deterministic (the same recipe fails the same way on every machine); the time budget is a
backstop for work the units do not see.

Units measure size (text and items built, which bound memory); steps measure time: one step is
about one loop iteration (0.16 µs), and an operation that walks its input in Python (a filter
such as sort or urlize, a comparison of two lists) is charged steps for every item it walks.
The renderer adds up the steps of all the renders of a plan (runner/plan/templates.py), so that
10,000 jobs of 20,000 steps each cannot take half a minute. Imported lazily: it imports jinja2.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2.runtime import Undefined
from jinja2.utils import Namespace

MAX_TEXT = 100_000  # longest string (or list) one operation may build
# Units one render may use: 5 times MAX_RENDERED, so that what a template prints (charged
# too) hits MAX_RENDERED first; at most ~20 MB of text built, ~1.5 s of loop steps.
MAX_WORK = 5_000_000
MAX_SECONDS = 1.0  # one render's wall-clock backstop
MAX_COMPARED = MAX_TEXT  # items one comparison may walk (nested lists count every item)
_CLOCK_EVERY = 4096  # charges between two looks at the clock
# How a namespace that holds itself prints the second time (Python's recursion guard).
_CYCLE_TEXT = len("<Namespace {...}>")


class TooLarge(Exception):
    """A template asked for a value too large for a recipe (the message says which).

    `work`: what finding that out cost (a walk of the value), charged to the render.
    """

    def __init__(self, message: str, work: int = 0) -> None:
        super().__init__(message)
        self.work = work


class TooMuchWork(TooLarge):
    """A render used its whole work or time budget: later renders of the template are skipped."""


class RenderBudget:
    """The units, steps and time left to the current render (reset when a render starts)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.left = MAX_WORK
        self.steps = 0  # this render's, for the plan's total (the renderer adds them up)
        self.deadline = 0.0  # set at the first look at the clock: most renders never look
        self.until_clock = _CLOCK_EVERY

    def used(self) -> int:
        """Units the current (or last) render used; a render stopped by the clock used them all."""
        return MAX_WORK - max(self.left, 0)

    def state(self) -> tuple[int, int, float, int]:
        return self.left, self.steps, self.deadline, self.until_clock

    def restore(self, state: tuple[int, int, float, int]) -> None:
        self.left, self.steps, self.deadline, self.until_clock = state

    def charge(self, units: int, steps: int = 1) -> None:
        """`units` of size built and `steps` of time taken (both count against the render)."""
        self.left -= units + steps - 1
        self.steps += steps
        if self.left < 0:
            raise _work_used_up()
        self.until_clock -= 1
        if self.until_clock <= 0:
            self._look_at_clock()

    def _look_at_clock(self) -> None:
        self.until_clock = _CLOCK_EVERY
        now = time.monotonic()
        if not self.deadline:
            self.deadline = now + MAX_SECONDS  # (the first 4,096 steps take milliseconds)
        elif now > self.deadline:
            self.left = 0  # counts as a whole budget used (see used())
            raise TooMuchWork(f"the template takes more than {MAX_SECONDS:g} s for one job")

    def spend(self, units: int) -> None:
        """Record work already done by an operation that then failed (never raises)."""
        self.left -= units
        self.steps += units

    def charge_result(self, value: Any, steps: int = 1) -> None:
        """One unit, plus the length of a string or list just built."""
        sized = isinstance(value, str | list | tuple | dict)
        self.charge(1 + (len(value) if sized else 0), steps)

    def charge_compared(self, value: Any) -> None:
        """A value about to be compared (==, <, in, sort...): every item it holds, nested ones
        too, since Python compares them all. Two lists of 60 levels that each hold the level
        below twice are 2**60 items in a few hundred bytes."""
        limit = min(max(self.left, 0), MAX_COMPARED)
        size = structure_size(value, limit)
        if size > MAX_COMPARED:
            self.spend(limit)
            raise TooMuchWork(
                f"the template compares values that hold more than {MAX_COMPARED:,} items "
                "(lists inside lists count every item)"
            )
        self.charge(1, size)  # (walking it costs about what comparing it does)

    def loop(self, iterable: Any) -> Any:
        """Iterate `iterable`, one unit per item (wraps every `{% for %}`)."""
        for item in iterable:
            # charge(1), written out: the commonest step (a template's loops may take millions).
            self.left -= 1
            self.steps += 1
            if self.left < 0:
                raise _work_used_up()
            self.until_clock -= 1
            if self.until_clock <= 0:
                self._look_at_clock()
            yield item


def _work_used_up() -> TooMuchWork:
    return TooMuchWork(
        f"the template does too much work (more than {MAX_WORK:,} steps: loops, calls and text "
        "built)"
    )


_CONTAINERS = (list, tuple, set, frozenset)
_SCALARS = (int, float, type(None))


def structure_size(value: Any, limit: int) -> int:
    """How many items comparing or hashing `value` may visit: every item of every nested list,
    tuple, set or mapping, counted as often as it is reached. Stops past `limit`."""
    total = 1
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) >> 8  # compared a machine word at a time
            continue
        if isinstance(item, Mapping):
            total += 2 * len(item)  # keys and values
            children: Iterable[Any] = item.values()
        elif isinstance(item, _CONTAINERS):
            total += len(item)
            children = item
        else:
            continue
        stack.extend([child for child in children if not isinstance(child, _SCALARS)])
    return total


def text_size(value: Any, what: str, limit: int = MAX_TEXT) -> int:
    """About how long `value` is as text (str() or JSON), refusing it past `limit`.

    Counts without building the text: `['x' * 99999] * 99999` is a small list of one shared
    string, and 10 GB once printed. Each item costs at least one, so the walk stops early. A
    namespace inside itself prints as "<Namespace {...}>" the second time, as Python does.
    """
    total = 0
    stack: list[Any] = [value]
    inside: set[int] = set()  # the namespaces being walked (only namespaces can hold themselves)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, _Leave):
            inside.discard(item.namespace)
            continue
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
            if id(item) in inside:
                total += _CYCLE_TEXT
            else:
                total += 13
                inside.add(id(item))
                stack.append(_Leave(id(item)))
                stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8  # numbers, None, macros, generators: short as text
        if total > limit:
            raise TooLarge(f"{what} would make text longer than {limit:,} characters", total)
    return total


class _Leave:
    """Marks the end of a namespace's walk in text_size's stack."""

    __slots__ = ("namespace",)

    def __init__(self, namespace: int) -> None:
        self.namespace = namespace
