"""Which combinations an include or exclude entry matches, as bit masks rather than by scanning.

Thousands of entries over 10,000 combinations, each compared with every combination, took
minutes. Here each axis is indexed once (value -> rows, per field for mapping values), an
entry's test on one axis is a mask over that axis's values, and the combinations it matches
are a mask over the whole product, built with integer operations: bit i is the i-th
combination in product order. `value_matches` stays the rule; the index gives its answers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

_KEPT_MASKS = 256  # masks over the whole product remembered (each is a bit per combination)


def value_matches(pattern: Any, value: Any) -> bool:
    """Whether an include/exclude value matches a combination's value (mappings partially)."""
    if isinstance(pattern, Mapping):
        if not isinstance(value, Mapping):
            return False
        return all(key in value and value_matches(sub, value[key]) for key, sub in pattern.items())
    if isinstance(pattern, bool) or isinstance(value, bool):
        return type(pattern) is type(value) and pattern == value
    if isinstance(pattern, str) != isinstance(value, str):
        if isinstance(pattern, int | float) or isinstance(value, int | float):
            return str(pattern) == str(value)
        return False
    return bool(pattern == value)


def bits(mask: int) -> Iterator[int]:
    """The positions of the set bits of `mask`, lowest first."""
    text = bin(mask)[:1:-1]  # least significant first, without "0b"
    if mask.bit_count() * 4 > len(text):
        # Dense (an include entry that applies to most combinations): every position picked
        # in C, ~0.07 µs each, where a find and a yield per bit take ~0.3 µs.
        return itertools.compress(range(len(text)), text.encode().translate(_BIT_FLAGS))
    return _sparse_bits(text)


_BIT_FLAGS = bytes(int(byte == ord("1")) for byte in range(256))  # "1" -> 1, all else 0


def _sparse_bits(text: str) -> Iterator[int]:
    at = text.find("1")
    while at >= 0:
        yield at
        at = text.find("1", at + 1)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Column:
    """(row, value) pairs of one axis, or of one field of its mapping values, indexed lazily."""

    def __init__(self, cells: list[tuple[int, Any]]) -> None:
        self.cells = cells
        self._index: dict[Hashable, list[int]] | None = None
        self._others: list[tuple[int, Any]] = []  # values no index key describes (lists...)
        self._mappings = 0
        self._fields: dict[Any, Column] = {}
        self._matched: dict[Hashable, int] = {}
        self._texts: list[str] | None = None
        self._named: dict[str, Column] | None = None

    def matching(self, pattern: Any) -> int:
        """The rows whose value `pattern` matches (value_matches), as a mask."""
        key = _pattern_key(pattern)
        if key is None:
            return _mask(row for row, value in self.cells if value_matches(pattern, value))
        found = self._matched.get(key)
        if found is None:
            found = self._matched[key] = self._match(pattern)
        return found

    def _match(self, pattern: Any) -> int:
        index = self._built()
        if isinstance(pattern, Mapping):
            rows = self._mappings
            for name, sub in pattern.items():
                if not rows:
                    break
                rows &= self._field(name).matching(sub)
            return rows
        if isinstance(pattern, bool):
            keys: list[Hashable] = [("bool", pattern)]
        elif isinstance(pattern, str):
            keys = [("str", pattern), ("number text", pattern)]
        elif _number(pattern):
            keys = [("str", str(pattern))]
            if pattern == pattern:  # NaN equals nothing
                keys.append(("number", pattern))
        elif pattern is None:
            keys = [("none",)]
        else:
            keys = []
        found = [row for key in keys for row in index.get(key, ())]
        found += [row for row, value in self._others if value_matches(pattern, value)]
        return _mask(found)

    def _built(self) -> dict[Hashable, list[int]]:
        """Rows by value, as lists: a mask per distinct value would be rows x rows bits."""
        if self._index is not None:
            return self._index
        rows: dict[Hashable, list[int]] = {}
        mappings = []
        for row, value in self.cells:
            if isinstance(value, dict | Mapping):
                mappings.append(row)
            elif isinstance(value, bool):
                rows.setdefault(("bool", value), []).append(row)
            elif isinstance(value, str):
                rows.setdefault(("str", value), []).append(row)
            elif _number(value):
                if value == value:  # NaN equals nothing
                    rows.setdefault(("number", value), []).append(row)
                rows.setdefault(("number text", str(value)), []).append(row)
            elif value is None:
                rows.setdefault(("none",), []).append(row)
            else:
                self._others.append((row, value))
        self._mappings = _mask(mappings)
        self._index = rows
        return rows

    def texts(self) -> list[str]:
        """The distinct text and number values, as text, in order (for messages)."""
        if self._texts is None:
            plain = [
                str(value) for _, value in self.cells if isinstance(value, str) or _number(value)
            ]
            self._texts = list(dict.fromkeys(plain))
        return self._texts

    def has_mappings(self) -> bool:
        self._built()
        return bool(self._mappings)

    def fields(self) -> dict[str, Column]:
        """The fields of the mapping values, by name as text, each with its values."""
        if self._named is None:
            found: dict[str, list[Any]] = {}
            for _, value in self.cells:
                if isinstance(value, Mapping):
                    for name, sub in value.items():
                        found.setdefault(str(name), []).append(sub)
            self._named = {name: Column(list(enumerate(subs))) for name, subs in found.items()}
        return self._named

    def _field(self, name: Any) -> Column:
        column = self._fields.get(name)
        if column is None:
            cells = [
                (row, value[name])
                for row, value in self.cells
                if isinstance(value, Mapping) and name in value
            ]
            column = self._fields[name] = Column(cells)
        return column


def _pattern_key(pattern: Any) -> Hashable | None:
    """A key that tells apart every pattern value_matches treats differently (1, 1.0, True,
    "1"), or None for one that cannot be a key (a list)."""
    if isinstance(pattern, Mapping):
        items = []
        for name, sub in pattern.items():
            key = _pattern_key(sub)
            if key is None or not isinstance(name, Hashable):
                return None
            items.append((type(name).__name__, name, key))
        return ("mapping", tuple(items))
    if pattern is None or isinstance(pattern, str | int | float):
        return (type(pattern).__name__, pattern)
    return None


def _mask(rows: Iterator[int] | Sequence[int]) -> int:
    """A mask with the given bits set (in one pass, not one big-integer operation a bit)."""
    found = list(rows)
    if not found:
        return 0
    buffer = bytearray(max(found) // 8 + 1)
    for row in found:
        buffer[row >> 3] |= 1 << (row & 7)
    return int.from_bytes(buffer, "little")


class AxisIndex:
    """The values of every axis, indexed for matching include and exclude patterns."""

    def __init__(self, values: Sequence[Sequence[Any]]) -> None:
        self._columns = [Column(list(enumerate(axis))) for axis in values]

    def column(self, axis: int) -> Column:
        return self._columns[axis]

    def matching(self, axis: int, pattern: Any) -> int:
        """The values of axis number `axis` that `pattern` matches, as a mask over them."""
        return self._columns[axis].matching(pattern)

    def tests(
        self, entry: Mapping[str, Any], position: Mapping[str, int]
    ) -> list[tuple[int, int]] | None:
        """(axis number, mask of matching values) for each axis key of `entry`; None when one
        of them matches no value (the entry matches no combination)."""
        tests = []
        for key, pattern in entry.items():
            if key in position:
                where = position[key]
                allowed = self.matching(where, pattern)
                if not allowed:
                    return None
                tests.append((where, allowed))
        return tests


class ProductSpace:
    """Masks over the combinations of axes of the given sizes, in itertools.product order."""

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = list(sizes)
        self.total = math.prod(self.sizes)
        self.full = (1 << self.total) - 1
        self._strides = [math.prod(self.sizes[at + 1 :]) for at in range(len(self.sizes))]
        self._spread: dict[tuple[int, int], int] = {}

    def where(self, tests: Sequence[tuple[int, int]]) -> int:
        """The combinations whose value on each tested axis is one of its allowed values."""
        found = self.full
        for axis, allowed in tests:
            found &= self._on_axis(axis, allowed)
            if not found:
                break
        return found

    def _on_axis(self, axis: int, allowed: int) -> int:
        cached = self._spread.get((axis, allowed))
        if cached is not None:
            return cached
        size, stride = self.sizes[axis], self._strides[axis]
        if allowed == (1 << size) - 1:
            return self.full
        # One period of the axis: each value's bit repeated `stride` times, then the period
        # repeated over the product; as text, which int() reads in linear time.
        period = format(allowed, f"0{size}b").replace("1", "1" * stride).replace("0", "0" * stride)
        found = int(period * (self.total // (size * stride)), 2)
        if len(self._spread) >= _KEPT_MASKS:
            self._spread.clear()
        self._spread[(axis, allowed)] = found
        return found
