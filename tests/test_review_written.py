"""review.yaml in the layout backdrop writes is read a line at a time (runner/review/written.py):
into exactly what the YAML loader reads, for any review backdrop writes and any hand edit that
keeps the layout; so that a review of 10,000 jobs at n = 10 (8 MB and more) is read in about a
second, while a file in another layout is read by the YAML loader up to 4 MiB only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runner.diagnostics import RecipeError
from runner.recipe.loader import load_yaml
from runner.review.checks import decision_problems
from runner.review.decision_model import Decision, EarlierTake, Review
from runner.review.decisions import (
    MAX_REVIEW_BYTES,
    MAX_WRITTEN_REVIEW_BYTES,
    REVIEW_NAME,
    ReviewFileError,
    load_review,
)
from runner.review.render import render_review
from runner.review.written import read_written

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_key = st.one_of(
    st.sampled_from(["fr-FR/MUG-01", "de-DE/CAP-02-1", "a/b/c", "x.y"]),
    _text.filter(bool),
    st.sampled_from(["no", "1e5", "true", "null", "~", "0x1F", "1_000", "-a", "a: b", "#x"]),
)
_sha = st.sampled_from([hashlib.sha256(bytes([i])).hexdigest() for i in range(8)])
_status = st.sampled_from(["pending", "approved", "rejected"])
_earlier = st.builds(
    EarlierTake,
    take=st.integers(1, 1000),
    status=_status,
    pick=st.none() | st.integers(1, 10),
    note=st.none() | _text.filter(bool),
    reason=st.none() | _text.filter(bool),
)
_decision = st.builds(
    Decision,
    status=_status,
    pick=st.none() | st.integers(1, 10),
    note=st.none() | _text.filter(bool),
    take=st.integers(1, 1000),
    history=st.lists(_earlier, max_size=3).map(tuple),
    sha256=st.lists(_sha, max_size=10).map(tuple),
)
_review = st.dictionaries(_key, _decision, max_size=5).map(Review)


@settings(max_examples=150, deadline=None)
@given(review=_review)
def test_every_review_backdrop_writes_is_read_a_line_at_a_time_as_yaml_reads_it(review):
    text = render_review(review)
    written = read_written(text)
    assert written is not None, text
    assert written.data == load_yaml(text, "review.yaml").data
    crlf = read_written(text.replace("\n", "\r\n"))  # as git checks it out on Windows
    assert crlf is not None and crlf.data == written.data


# Hand edits: a line changed to another value, duplicated, removed, re-indented, commented.
_VALUES = ["yes", "no", "1e999", "1e5", "~", "null", "", "0x1F", "1_000", ".5", "-1", "007",
           "'x'", '"\\x41"', '"\\u00e9"', '"\\ud800"', '"a\\tb"', "a b", "a # c", "{}", "[]",
           "[1]", "- a", "2.0", "true", "True", "approved", "maybe", '"', '"\\N"', "&a", "*a",
           "!!str x", "1" * 1001, "a:b", "a: b", "\t1", "\u2028", "\x85"]  # fmt: skip


@st.composite
def _edited(draw: st.DrawFn) -> str:
    lines = render_review(draw(_review)).split("\n")
    for _ in range(draw(st.integers(1, 3))):
        number = draw(st.integers(0, len(lines) - 1))
        line = lines[number]
        how = draw(st.sampled_from(["value", "copy", "drop", "indent", "comment", "key"]))
        if how == "value" and ":" in line:
            lines[number] = line[: line.index(":") + 1] + " " + draw(st.sampled_from(_VALUES))
        elif how == "copy":
            lines.insert(number, line)
        elif how == "drop":
            del lines[number]
        elif how == "indent":
            lines[number] = " " * draw(st.integers(0, 9)) + line.lstrip(" ")
        elif how == "comment":
            lines.insert(number, draw(st.sampled_from(["# note", "  # note", "#", ""])))
        elif line.startswith("  ") and not line.startswith("   "):
            lines[number] = "  " + draw(st.sampled_from(_VALUES)) + ":"
    return "\n".join(lines)


_EMPTY_ENTRY = "version: 1\njobs:\n  yes:\n  de-DE/CAP-02-1:\n    status: pending\n"


@settings(max_examples=400, deadline=None)
@given(text=_edited())
@example(text=_EMPTY_ENTRY)  # a key with no fields is null to YAML, not an empty mapping
@example(text="version: {}\njobs: {}\n")  # an empty mapping to YAML, not the text "{}"
def test_a_hand_edit_is_read_as_yaml_reads_it_or_left_to_the_yaml_loader(text):
    written = read_written(text)
    if written is None:
        return  # the YAML loader reads it (within MAX_REVIEW_BYTES)
    try:
        data = load_yaml(text, "review.yaml").data
    except RecipeError:
        assert written.repeated, text  # only a repeated key is read here and refused there
        return
    assert not written.repeated, text
    assert written.data == data, text


@pytest.mark.parametrize(
    "item",
    ["1" * 64, "1" * 61 + "e10", "0e1", "007", "1e5", "e" * 64, "a" + "0" * 63, "0" * 63 + "f",
     "ABCDEF" + "0" * 58, "0x1f", "deadbeef"],
)  # fmt: skip
def test_a_list_item_of_hex_digits_is_read_as_yaml_reads_it(item):
    """Items of digits and e are numbers to YAML; a hex letter other than e makes text."""
    text = f"version: 1\njobs:\n  a/b:\n    status: pending\n    sha256:\n      - {item}\n"
    written, loaded = read_written(text), load_yaml(text, "review.yaml").data
    assert written is not None and written.data == loaded
    (read,), (reference,) = written.data["jobs"]["a/b"]["sha256"], loaded["jobs"]["a/b"]["sha256"]
    assert type(read) is type(reference)  # 1 == 1.0, but an int is not a float


def big_review(jobs: int, n: int = 10) -> Review:
    def sha(i: int, j: int) -> str:
        return hashlib.sha256(f"{i}-{j}".encode()).hexdigest()

    earlier = (EarlierTake(1, "rejected", 2, "too dark", "recipe changed: prompt"),)
    return Review(
        {
            f"m{i % 40:02d}-XX/SKU-{i:05d}-ceramic-mug": Decision(
                "approved", pick=3, history=earlier, sha256=tuple(sha(i, j) for j in range(n))
            )
            for i in range(jobs)
        }
    )


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Review]:
    """A review of 4,520 jobs at n = 10 as backdrop writes it: past MAX_REVIEW_BYTES (4.26 MB;
    any size past it takes the same paths, and the last entry is m39-XX/SKU-04519)."""
    folder = tmp_path_factory.mktemp("large")
    review = big_review(4520)
    (folder / REVIEW_NAME).write_text(render_review(review), encoding="utf-8")
    assert MAX_REVIEW_BYTES < (folder / REVIEW_NAME).stat().st_size < MAX_WRITTEN_REVIEW_BYTES
    return folder, review


def test_a_review_larger_than_any_hand_layout_is_read_as_backdrop_wrote_it(large):
    folder, review = large
    assert load_review(folder) == review  # was: refused, past 4 MiB


def test_a_large_review_in_another_layout_is_refused_with_what_to_do(large, tmp_path):
    folder, _ = large
    text = (folder / REVIEW_NAME).read_text(encoding="utf-8").replace("    pick: 3", "    pick:  3")
    (tmp_path / REVIEW_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(ReviewFileError) as refused:
        load_review(tmp_path)
    (only,) = refused.value.diagnostics()
    assert only.message.startswith("the file is ")
    assert f"not in the layout backdrop writes: past {MAX_REVIEW_BYTES // 2**20} MB" in only.message
    assert "restore the layout" in (only.hint or "")


def yaml_path_says(text: str, shown: str) -> list[str]:
    """What the YAML loader's path says of a whole text (as for a file under 4 MiB)."""
    from runner.review import decisions

    try:
        problems, _ = decisions._problems(load_yaml(text, shown))
    except RecipeError as error:
        return [d.headline() for d in error.diagnostics()]
    return [d.headline() for d in problems]


def told(folder: Path) -> list[str]:
    with pytest.raises(ReviewFileError) as refused:
        load_review(folder)
    return [d.headline() for d in refused.value.diagnostics()]


def test_mistakes_in_a_large_review_are_placed_as_the_yaml_loader_places_them(large, tmp_path):
    folder, _ = large
    lines = (folder / REVIEW_NAME).read_text(encoding="utf-8").split("\n")
    first = lines.index("  m03-XX/SKU-00003-ceramic-mug:")
    lines[first + 1] = "    status: maybe"
    late = lines.index("  m39-XX/SKU-04519-ceramic-mug:")
    lines[late + 2] = "    pick: 11"
    lines[late + 3 : late + 3] = ["    colour: red"]
    text = "\n".join(lines)
    (tmp_path / REVIEW_NAME).write_text(text, encoding="utf-8")
    shown = str(tmp_path / REVIEW_NAME)
    said = told(tmp_path)
    assert said == [
        f"{shown}:{first + 2}:13: error: jobs.m03-XX/SKU-00003-ceramic-mug.status: 'maybe' is "
        "not one of pending, approved, rejected",
        f"{shown}:{late + 3}:11: error: jobs.m39-XX/SKU-04519-ceramic-mug.pick: 11 is more than "
        "the maximum of 10",
        f"{shown}:{late + 4}:5: error: jobs.m39-XX/SKU-04519-ceramic-mug: unknown key 'colour'",
    ]
    assert said == yaml_path_says(text, shown)


def test_a_job_twice_in_a_large_review_is_said_as_the_yaml_loader_says_it(large, tmp_path):
    folder, _ = large
    lines = (folder / REVIEW_NAME).read_text(encoding="utf-8").split("\n")
    first = lines.index("  m03-XX/SKU-00003-ceramic-mug:")
    copy = lines.index("  m10-XX/SKU-00010-ceramic-mug:")
    lines[copy:copy] = ["  m03-XX/SKU-00003-ceramic-mug:", "    status: approved"]
    text = "\n".join(lines)
    (tmp_path / REVIEW_NAME).write_text(text, encoding="utf-8")
    shown = str(tmp_path / REVIEW_NAME)
    said = told(tmp_path)
    assert said == [
        f"{shown}:{copy + 1}:3: error: duplicate key 'm03-XX/SKU-00003-ceramic-mug' (first "
        f"defined on line {first + 1})"
    ]
    assert said == yaml_path_says(text, shown)


def test_past_the_first_50_wrong_entries_each_is_counted(large, tmp_path):
    folder, _ = large
    text = (folder / REVIEW_NAME).read_text(encoding="utf-8")
    text = text.replace("    status: approved", "    status: maybe", 300)
    (tmp_path / REVIEW_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(ReviewFileError) as refused:
        load_review(tmp_path)
    assert refused.value.diagnostics()[-1].message == "250 more errors not shown"


def test_an_approval_without_a_pick_in_a_large_review_is_placed(large, tmp_path):
    folder, _ = large
    key = "m39-XX/SKU-04519-ceramic-mug"
    text = (folder / REVIEW_NAME).read_text(encoding="utf-8").replace("    pick: 3\n", "")
    (tmp_path / REVIEW_NAME).write_text(text, encoding="utf-8")
    without = load_review(tmp_path)
    problems = decision_problems(tmp_path, without, {key: 10})
    line = text.split("\n").index(f"  {key}:") + 2
    assert [str(p.span) for p in problems] == [f"{tmp_path / REVIEW_NAME}:{line}:13"]
    assert problems[0].message == "approved without a pick: this job has 10 variants"
