"""What a template operation costs beyond one step: the items a filter walks, what a call
compares or hashes. Charged by the guards in limits.py and environment.py to the render's
budget (budget.py), whose steps add up over a whole plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Steps a filter costs per character of text and per item of a list (or mapping) it is given,
# beyond its call: the Python work it does for each, measured against a loop step (0.16 µs) on
# long text and 20,000-item lists (bench/README.md, "Templates at scale"), rounded up. Filters
# not listed run C code over text (upper, replace, center...); a list given to them is turned
# into text, about 2 steps an item. `max(t)` over 100,000 characters takes 60 ms for one
# result: charged by what it built, 10,000 jobs of it would have been 10 minutes.
STEPS_PER_ITEM: dict[str, tuple[int, int]] = {
    "map": (40, 45), "urlize": (5, 40), "pprint": (1, 15), "join": (4, 14),
    "sort": (6, 12), "title": (2, 9), "groupby": (2, 6), "dictsort": (2, 6), "min": (3, 6),
    "max": (3, 6), "rejectattr": (2, 4), "selectattr": (2, 4), "reject": (2, 3),
    "select": (2, 3), "tojson": (0, 3), "wordcount": (1, 3), "striptags": (1, 2),
    "sum": (1, 2), "slug": (2, 2), "unique": (2, 2), "wordwrap": (2, 2), "batch": (1, 1),
    "slice": (1, 1), "urlencode": (1, 1), "list": (0, 1), "length": (0, 0), "count": (0, 0),
    "first": (0, 0), "last": (0, 0), "reverse": (0, 1), "default": (0, 0), "d": (0, 0),
}  # fmt: skip
DEFAULT_STEPS = (0, 2)
# Filters and tests that compare the items they are given (or hash them): every nested item
# is charged, as for `==` (budget.structure_size).
COMPARING_FILTERS = frozenset({"sort", "unique", "min", "max", "groupby", "dictsort"})
COMPARING_TESTS = frozenset(
    {"==", "eq", "equalto", "!=", "ne", "<", "lt", "lessthan", "<=", "le", ">", "gt",
     "greaterthan", ">=", "ge", "in"}
)  # fmt: skip


def input_items(value: Any) -> tuple[int, int]:
    """(characters, items) a filter given `value` walks: its length, as text or as a list."""
    if isinstance(value, str):
        return len(value), 0
    if isinstance(value, list | tuple | set | frozenset | dict | range | Mapping):
        return 0, len(value)
    return 0, 0  # a generator (map, select...): whatever consumes it is charged per item


COMPARING_METHODS = frozenset({"count", "index", "changed"})


def compared_by_call(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[Any]:
    """What a call compares or hashes, item by item: the list and the value given to
    `list.count`, `list.index` or `loop.changed`, and any tuple given to any call (`d.get(t)`
    hashes it)."""
    compared: list[Any] = [value for value in (*args, *kwargs.values()) if _hashed(value)]
    if getattr(method, "__name__", "") in COMPARING_METHODS:
        owner = getattr(method, "__self__", None)
        if isinstance(owner, list | tuple):
            compared.append(owner)
        compared.extend(args)
    return compared


def _hashed(value: Any) -> bool:
    return isinstance(value, tuple | frozenset)
