"""Property-based tests (Hypothesis): the matrix rules against a plain reference of GitHub's
documented algorithm, and the YAML loader, CSV reader and output-path checks on any input."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.diagnostics import BackdropError
from runner.plan.axes import AxisValues
from runner.plan.csvfile import read_csv_table
from runner.plan.matching import AxisIndex, bits
from runner.plan.matrix import expand_matrix, value_matches
from runner.plan.outputs import OutputProblem, output_paths
from runner.recipe.loader import load_yaml

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- the matrix, against GitHub Actions' documented algorithm ---------------------------------


def reference_matrix(
    axes: Mapping[str, list[Any]], include: list[dict[str, Any]], exclude: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """GitHub's strategy.matrix, as its documentation states it, for scalar values.

    The product of the axes; minus every combination that all of an exclude entry's pairs
    match; then each include entry is added to every original combination whose original values
    it would not overwrite (added values may be overwritten), or, when it fits none, becomes a
    combination of its own.
    """
    names = list(axes)
    if names:
        product = [
            dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())
        ]
    else:
        product = [] if include else [{}]
    originals = [
        combo
        for combo in product
        if not any(all(combo.get(k) == v for k, v in entry.items()) for entry in exclude)
    ]
    results = [dict(combo) for combo in originals]
    extra = []
    for entry in include:
        applied = False
        for original, result in zip(originals, results, strict=True):
            if all(original[k] == v for k, v in entry.items() if k in original):
                result.update(entry)
                applied = True
        if not applied:
            extra.append(dict(entry))
    return results + extra


AXIS_NAMES = ["a", "b", "c"]
EXTRA_KEYS = ["x", "y"]
# Text and whole numbers kept apart: the extension that lets 1 match "1" is tested elsewhere.
VALUES = st.one_of(st.sampled_from(["p", "q", "r"]), st.integers(0, 2))


@functools.cache
def _entries(
    values: st.SearchStrategy[Any], count: int
) -> tuple[st.SearchStrategy[dict[str, Any]], st.SearchStrategy[dict[str, Any]]]:
    """The include and exclude entries for a matrix of `count` axes. Made once per count, not
    per example: a strategy built anew is validated and wrapped again each time, which was
    most of the cost of drawing a small matrix; the draws are the same."""
    axes = AXIS_NAMES[:count]
    entry = st.dictionaries(st.sampled_from([*axes, *EXTRA_KEYS]), values, min_size=1, max_size=3)
    exclude_entry = (
        st.dictionaries(st.sampled_from(axes), values, min_size=1, max_size=2)
        if axes
        else st.nothing()
    )
    return entry, exclude_entry


@st.composite
def matrices(
    draw: st.DrawFn,
) -> tuple[dict[str, list[Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    count = draw(st.integers(0, 3))
    axes = {name: draw(st.lists(VALUES, min_size=1, max_size=3)) for name in AXIS_NAMES[:count]}
    entry, exclude_entry = _entries(VALUES, count)
    include = draw(st.lists(entry, max_size=4))
    exclude = draw(st.lists(exclude_entry, max_size=3)) if axes else []
    return axes, include, exclude


@SETTINGS
@given(matrices())
def test_matrix_follows_githubs_documented_algorithm(case):
    axes, include, exclude = case
    loaded = [AxisValues(name, tuple(values), ("matrix", name)) for name, values in axes.items()]
    got = [dict(combo.vars) for combo in expand_matrix(loaded, include, exclude)]
    assert got == reference_matrix(axes, include, exclude)


def test_the_reference_reproduces_githubs_worked_example():
    axes = {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]}
    include = [
        {"color": "green"},
        {"color": "pink", "animal": "cat"},
        {"fruit": "apple", "shape": "circle"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]
    assert reference_matrix(axes, include, []) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


# Values as recipes and CSV files give them: text (numbers written as text too), numbers,
# booleans, None, and mappings of them (CSV rows, inline mappings), nested once.
SCALARS = st.one_of(
    st.sampled_from(["p", "q", "1", "1.0", "True", "NO", ""]),
    st.sampled_from([0, 1, 2, 1.0, 2.5, True, False, None]),
)
MAPPINGS = st.dictionaries(
    st.sampled_from(["code", "n"]), st.one_of(SCALARS, st.dictionaries(st.just("x"), SCALARS))
)
MIXED = st.one_of(SCALARS, MAPPINGS)


@SETTINGS
@given(st.lists(MIXED, min_size=1, max_size=8), MIXED)
def test_the_axis_index_matches_what_value_matches_says(values, pattern):
    index = AxisIndex([values])
    expected = {row for row, value in enumerate(values) if value_matches(pattern, value)}
    assert set(bits(index.matching(0, pattern))) == expected


def reference_by_value_matches(
    axes: Mapping[str, list[Any]], include: list[dict[str, Any]], exclude: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """reference_matrix with Backdrop's matching (mappings partially, numbers as text)."""
    names = list(axes)
    product = [dict(zip(names, v, strict=True)) for v in itertools.product(*axes.values())]
    if not names:
        product = [] if include else [{}]
    originals = [
        combo
        for combo in product
        if not any(
            all(value_matches(v, combo[k]) for k, v in entry.items() if k in combo)
            for entry in exclude
        )
    ]
    results = [dict(combo) for combo in originals]
    extra = []
    for entry in include:
        applied = False
        for original, result in zip(originals, results, strict=True):
            if all(value_matches(v, original[k]) for k, v in entry.items() if k in original):
                result.update({k: v for k, v in entry.items() if k not in original})
                applied = True
        if not applied:
            extra.append(dict(entry))
    return results + extra


@SETTINGS
@given(st.data())
def test_the_matrix_with_mixed_values_follows_the_reference(data):
    count = data.draw(st.integers(1, 3))
    axes = {name: data.draw(st.lists(MIXED, min_size=1, max_size=3)) for name in AXIS_NAMES[:count]}
    entry, exclude_entry = _entries(MIXED, count)
    include = data.draw(st.lists(entry, max_size=5))
    exclude = data.draw(st.lists(exclude_entry, max_size=4))
    loaded = [AxisValues(name, tuple(values), ("matrix", name)) for name, values in axes.items()]
    got = [dict(combo.vars) for combo in expand_matrix(loaded, include, exclude)]
    assert got == reference_by_value_matches(axes, include, exclude)
    assert [list(combo) for combo in got] == [
        list(combo) for combo in reference_by_value_matches(axes, include, exclude)
    ]  # the same keys in the same order


# --- the YAML loader, the CSV reader, output paths: any input ----------------------------------

YAML_PIECES = st.sampled_from(
    [
        "a: 1\n",
        "- x\n",
        "  ",
        "\t",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "&a ",
        "*a",
        "!!str ",
        "!!python/object:os.system ",
        "<<: *a\n",
        '"',
        "'",
        "\\ud800",
        "\\0",
        "#",
        "---\n",
        "9" * 5000,
        "{{ x }}",
        "\n",
        "key",
        "?",
        "|\n",
        ">\n",
        "%YAML 1.1\n",
        "\x00",
        "\x85",
        "\ufeff",
        "\ud800",
        "é",
    ]
)
YAML_TEXT = st.one_of(st.text(max_size=200), st.lists(YAML_PIECES, max_size=30).map("".join))


@SETTINGS
@given(YAML_TEXT)
def test_the_yaml_loader_gives_values_or_a_backdrop_error(text):
    try:
        document = load_yaml(text, "f.yaml")
    except BackdropError as error:
        for diagnostic in error.diagnostics():
            diagnostic.render()
        return
    # What loaded must be writable: no lone surrogates reach later stages.
    for text_value in _strings(document.data):
        text_value.encode("utf-8")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


CSV_PIECES = st.sampled_from(
    [
        b",",
        b";",
        b"\t",
        b'"',
        b"\r\n",
        b"\n",
        b"sep=;\n",
        b"code",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\x00",
        b"\x82\xa0",
        "é".encode("cp1252"),
        "急須".encode("shift_jis"),
        "é".encode(),
    ]
)
CSV_BYTES = st.one_of(st.binary(max_size=300), st.lists(CSV_PIECES, max_size=40).map(b"".join))


@SETTINGS
@given(CSV_BYTES)
def test_the_csv_reader_gives_rows_or_diagnostics(data):
    table, problems = read_csv_table(data, "m.csv")
    for diagnostic in problems:
        diagnostic.render()
    for row in table.rows:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in row.items())


@SETTINGS
@given(st.text(max_size=80), st.sampled_from(["png", "jpeg", "webp"]), st.integers(1, 10))
def test_output_paths_never_escape_the_output_folder(text, extension, n):
    try:
        paths = output_paths(text, extension, n)
    except OutputProblem:
        return
    assert len(paths) == n
    for path in paths:
        parts = path.split("/")
        assert not path.startswith("/") and ".." not in parts and "" not in parts
        assert "\\" not in path and not any(ord(c) < 32 for c in path)
        assert path.endswith(f".{extension}")
