"""backdrop.lock's checks (runner/records/lock_checks.py): the quick checks over many entries never
take one the per-entry checks refuse, the worded and unworded checks agree, and a lock of any
shape is told within bounds (the first 50 mistakes, the rest counted; a file of tiny values is
refused before it is parsed into millions of objects)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.diagnostics import MAX_SHOWN
from runner.records import lock_checks
from runner.records.lock_reader import VALUE_BYTES, LockFileError, read_lock
from runner.records.lockfile import LOCK_NAME

SHA = "ab" * 32
PRINTS = {"prompt": "0123456789ab", "size": "cdef01234567"}

_texts = st.sampled_from(
    ["a", "x/1.png", "é/ü.png", "n" * 100, "n" * 256, "é" * 128, "", ".", "..", "a/../b",
     ".backdrop/s", "a\x00b", "a\\b", "a//b", "\ud800", "a\nb", "job-1"]
)  # fmt: skip
_anything = st.one_of(
    _texts, st.integers(-2, 12), st.booleans(), st.none(), st.just([]), st.just({}),
    st.just(1.0), st.just(10**30),
)  # fmt: skip
_output = st.one_of(
    st.fixed_dictionaries(
        {"path": _texts, "job": _texts, "sha256": st.sampled_from([SHA, "AB" * 32, "a" * 63])},
        optional={"request": st.sampled_from([PRINTS, {"prompt": 1}, {"p": "x" * 65}, [], None])},
    ),
    st.dictionaries(st.sampled_from(["path", "job", "sha256", "request"]), _anything),
    _anything,
)
_generation = st.one_of(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["u1", "u2", "unanswered:u1", "", "x" * 201, "\ud800"]),
            "job": st.sampled_from(["job-a", "job-b", "", "\ud800"]),
            "n": st.sampled_from([1, 10, 0, 11, True, 2.0]),
            "quality": st.sampled_from(["low", "high", "ultra", ["low"]]),
            "size": st.sampled_from(["1024x1024", "1x1"]),
        },
        optional={
            "run": st.sampled_from(["r1", "", None, ["r"], "r" * 201]),
            "maybe": st.sampled_from([True, False, "yes", 1]),
        },
    ),
    st.dictionaries(st.sampled_from(["id", "job", "n", "quality", "size"]), _anything),
    _anything,
)
KINDS = {
    "outputs": (_output, lock_checks.outputs_as_written, lock_checks.output_problems),
    "generations": (
        _generation,
        lock_checks.generations_as_written,
        lock_checks.generation_problems,
    ),
}


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_quick_check_takes_only_entries_without_a_mistake(kind: str, data: Any) -> None:
    strategy, quick, check = KINDS[kind]
    chunk = data.draw(st.lists(strategy, min_size=1, max_size=4))
    if quick(chunk) is not None:
        for number, item in enumerate(chunk):
            assert check(number, item, {}, True) == [], item


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_worded_and_counted_checks_agree_entry_by_entry(kind: str, data: Any) -> None:
    strategy, _, check = KINDS[kind]
    entries = data.draw(st.lists(strategy, min_size=1, max_size=6))
    worded: dict[Any, int] = {}
    counted: dict[Any, int] = {}
    for number, item in enumerate(entries):
        assert bool(check(number, item, worded, True)) == bool(check(number, item, counted, False))


def write_lock(folder: Path, outputs: list[Any], generations: list[Any] | None = None) -> None:
    """The lock laid out as render_lock lays it out: one entry a line (each by json's C encoder,
    which an indented dump of the whole does not use)."""

    def rows(entries: list[Any]) -> str:
        return ",\n".join(f"    {json.dumps(entry)}" for entry in entries)

    text = f'{{\n  "format": 2,\n  "recipe": "camp",\n  "outputs": [\n{rows(outputs)}\n  ]'
    if generations is not None:
        text += f',\n  "generations": [\n{rows(generations)}\n  ]'
    (folder / LOCK_NAME).write_text(text + "\n}\n", encoding="utf-8")


def output(i: int, **more: Any) -> dict[str, Any]:
    return {"path": f"m/{i:05d}.png", "job": f"{i:064x}", "sha256": SHA, "request": {}, **more}


def test_a_lock_as_backdrop_writes_it_reads_whole(tmp_path: Path) -> None:
    gens = [{"id": f"u{i}", "job": f"{i:064x}", "run": "r", "n": 2, "quality": "low",
             "size": "1024x1024"} for i in range(1000)]  # fmt: skip
    write_lock(tmp_path, [output(i, request=PRINTS) for i in range(1000)], gens)
    lock = read_lock(tmp_path)
    assert len(lock.entries) == 1000 and lock.entries[999].request == tuple(PRINTS.items())
    assert len(lock.generations) == 1000 and lock.generations[5].images == 2


def test_mistakes_far_apart_among_good_entries_are_each_found(tmp_path: Path) -> None:
    """The quick check looks at runs of entries: one bad entry in a run, or a path repeated
    from another run, is still found, at its own place."""
    outputs = [output(i) for i in range(2000)]
    outputs[700]["sha256"] = "nope"
    outputs[1999]["path"] = outputs[3]["path"]  # a repeat, runs apart
    write_lock(tmp_path, outputs)
    with pytest.raises(LockFileError) as refused:
        read_lock(tmp_path)
    told = [d.message for d in refused.value.diagnostics()]
    assert told == [
        'output 701: "sha256" must be 64 hexadecimal digits (a-f, 0-9)',
        "output 2000 lists m/00003.png again (output 4 did)",
    ]


def test_past_the_first_50_each_entry_with_mistakes_is_counted(tmp_path: Path) -> None:
    outputs = [output(i) for i in range(5000)]
    for i in range(0, 5000, 10):  # 500 entries with two mistakes each
        outputs[i] = {"path": 3, "job": "", "sha256": SHA, "request": {}}
    write_lock(tmp_path, outputs)
    with pytest.raises(LockFileError) as refused:
        read_lock(tmp_path)
    shown = refused.value.diagnostics()
    assert len(shown) == MAX_SHOWN + 1  # and the count
    # 25 entries worded (50 mistakes), 475 counted
    assert shown[-1].message == "475 more errors not shown"


def test_a_lock_of_tiny_values_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    """Two megabytes of `[],` would be 700,000 lists (at the cap, tens of millions)."""
    (tmp_path / LOCK_NAME).write_text(
        '{"format": 2, "outputs": [' + ",".join(["[]"] * 700_000) + "]}", encoding="utf-8"
    )
    with pytest.raises(LockFileError) as refused:
        read_lock(tmp_path)
    (only,) = refused.value.diagnostics()
    assert only.message.startswith("the file holds about 1,400,002 JSON values in 2,100,027")
    assert f"backdrop writes one per {VALUE_BYTES * 2} bytes or more" in only.message


def test_a_lock_of_values_as_sparse_as_backdrop_writes_is_read(tmp_path: Path) -> None:
    """The density bound is far from what backdrop writes: 30,000 outputs with every path and
    job as short as can be, and a run of commas inside each path, still read."""
    outputs = [
        {"path": f"a,b,c/{i}", "job": f"{i}", "sha256": SHA, "request": {}} for i in range(30_000)
    ]
    write_lock(tmp_path, outputs)
    assert (tmp_path / LOCK_NAME).stat().st_size > 1024 * 1024
    assert len(read_lock(tmp_path).entries) == 30_000


def test_positions_are_looked_for_only_up_to_the_last_mistake_told() -> None:
    """The walk that places the first mistakes keeps only their starts and stops after the
    last one: on the way through a list of millions, keeping every start filled gigabytes."""
    from runner import jsontext

    text = json.dumps({"format": 2, "outputs": [{}] * 100_000})
    wanted = [("outputs", 0, "path"), ("outputs", 2, "job")]  # absent keys: their entries' starts
    walker = jsontext._Walker(text, wanted)
    with pytest.raises(jsontext._AllFound):
        walker.document()
    assert set(walker.starts) == {(), ("outputs",), ("outputs", 0), ("outputs", 2)}
    offsets = jsontext.value_offsets(text, wanted)
    assert text[offsets[("outputs", 2, "job")] :].startswith("{}, {}, {}")
