"""A file with thousands of mistakes (a pull request can commit one) is told by its first 50
mistakes and a count of the others, in the time those 50 take."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.commands import terminal
from runner.diagnostics import MAX_SHOWN, RecipeError
from runner.recipe.build import load_recipe
from runner.review.decisions import ReviewFileError, load_review


def review_with(tmp_path: Path, entries: list[str]) -> Path:
    (tmp_path / "review.yaml").write_text("version: 1\njobs:\n" + "".join(entries))
    return tmp_path


def test_a_review_yaml_with_thousands_of_mistakes_shows_50_and_counts_all(tmp_path, capsys):
    entries = []
    for i in range(4_000):
        if i % 4 == 0:
            entries.append(f"  m/fine-{i}:\n    status: approved\n    pick: 2.0\n")
        else:  # three kinds of mistake, each in its own entry
            wrong = ("    colour: red\n", "    status: maybe\n", "    take: 0\n")[i % 3]
            entries.append(
                f"  m/job-{i}:\n    status: approved\n{wrong}".replace(
                    "    status: approved\n    status: maybe", "    status: maybe"
                )
            )
    folder = review_with(tmp_path, entries)
    with pytest.raises(ReviewFileError) as caught:
        load_review(folder)
    diagnostics = caught.value.diagnostics()
    assert len(diagnostics) == MAX_SHOWN + 1
    shown = diagnostics[:MAX_SHOWN]
    lines = [d.span.line for d in shown if d.span]
    assert len(lines) == MAX_SHOWN and lines == sorted(lines) and lines[0] == 7
    assert shown[0].message == "'maybe' is not one of pending, approved, rejected"
    summary = diagnostics[-1]
    assert summary.message == "2,950 more errors not shown" and summary.hidden == 2_950
    assert summary.hint == "fix the first 50, then run the command again"
    terminal.show_error(caught.value)
    assert capsys.readouterr().err.rstrip().endswith("\n3,000 errors")


def test_entries_with_a_mistake_only_the_checks_find_are_counted(tmp_path):
    """A key that is no output path, takes out of order: mistakes the schema does not see."""
    entries = [f"  m/a/../b{i}:\n    status: approved\n" for i in range(60)]
    entries += [
        f"  m/c{i}:\n    status: pending\n    take: 2\n    history:\n"
        "      - { take: 5, status: rejected }\n"
        for i in range(40)
    ]
    with pytest.raises(ReviewFileError) as caught:
        load_review(review_with(tmp_path, entries))
    *shown, summary = caught.value.diagnostics()
    assert len(shown) == MAX_SHOWN and summary.hidden == 50
    assert all("is not an output path inside this folder" in d.message for d in shown)


def test_a_recipe_with_many_mistakes_shows_50_and_counts_the_rest(tmp_path):
    keys = "".join(f"  colour_{i}: red\n" for i in range(70))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "version: 1\nname: t\ndefaults:\n  quality: low\n" + keys + "image: a.png\n"
        'prompt: "p"\noutput: "o"\n'
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, display="recipe.yaml")
    *shown, summary = caught.value.diagnostics()
    assert len(shown) == MAX_SHOWN
    assert shown[0].headline().startswith("recipe.yaml:5:3: error: defaults: unknown key")
    assert summary.headline() == "recipe.yaml: error: 20 more errors not shown"


def test_a_huge_line_is_shown_as_a_window_around_the_place(tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    flow = ", ".join(f"k{i}: v" for i in range(2_000))
    recipe.write_text(f"version: 1\nname: t\nvars: {{{flow}, quality: [}}\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, display="recipe.yaml")
    terminal.show_error(caught.value)
    err = capsys.readouterr().err
    assert max(len(line) for line in err.splitlines()) < 300
    headline, snippet, caret = err.splitlines()[:3]
    col = int(headline.split(":")[2])
    place = caret.index("^")  # the caret is under the very character the column names
    assert snippet[place] == recipe.read_text().splitlines()[2][col - 1]


_earlier = st.fixed_dictionaries(
    {"take": st.sampled_from([1, 2, 0, "x"]), "status": st.sampled_from(["rejected", "maybe"])},
    optional={
        "pick": st.sampled_from([1, 2.0, 11]),
        "note": st.sampled_from(["", "x" * 2001]),
        "reason": st.sampled_from(["recipe changed: prompt", "", "x" * 2001, 7, None]),
    },
)
_SHAS = ["a" * 64, "AB" * 32, "a" * 64 + "\n", "a" * 63, "g" * 64, 7, None]
_sha = st.sampled_from(_SHAS)
_entry = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["approved", "pending", "maybe", True]),
        "pick": st.sampled_from([1, 2.0, 2.5, 0, 11, "x", None]),
        "take": st.sampled_from([1, 3, 0, 1001]),
        "note": st.sampled_from(["", "too dark", "x" * 2001, None]),
        "history": st.lists(_earlier, max_size=3),
        "sha256": st.one_of(st.lists(_sha, max_size=11), st.just("a" * 64)),
        "colour": st.just("red"),
    },
)
_job_key = st.sampled_from(["m/a", "a/../b", "./a", "a\\b", "x" * 1025, "m/é"])


@settings(max_examples=400, deadline=None)
@given(key=_job_key, entry=_entry)
def test_an_entry_the_quick_check_refuses_always_has_a_mistake_it_is_told(
    tmp_path_factory, key, entry
):
    """The count of entries not worded ("N more errors") is exact only if so."""
    import yaml

    from runner.review import decisions

    folder = tmp_path_factory.mktemp("review")
    # libyaml's dumper where PyYAML has it: the same text (5,000 drawn entries compared) in an
    # eighth of the time, which was a third of each example's.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump({"version": 1, "jobs": {key: entry}}, Dumper=dumper)
    (folder / "review.yaml").write_text(text)
    try:
        load_review(folder)
        told = 0
    except ReviewFileError as error:
        told = len(error.diagnostics())
    assert (told == 0) == decisions._entry_fine(key, entry), (key, entry)


@pytest.mark.parametrize(
    "entry",
    [
        *({"status": "approved", "sha256": [sha]} for sha in _SHAS),
        {"status": "approved", "sha256": []},
        {"status": "approved", "sha256": ["a" * 64] * 11},
        *(
            {"status": "pending", "history": [{"take": 1, "status": "rejected", "reason": why}]}
            for why in ("recipe changed: prompt", "", "x" * 2000, "x" * 2001, 7, None)
        ),
    ],
    ids=repr,
)
def test_sha256_lists_and_reasons_are_refused_exactly_when_a_mistake_is_told(tmp_path, entry):
    """Each approval's hashes and each history reason, one at a time: the quick check and the
    checks that word mistakes agree (a hash with a line break after it passed the schema's
    pattern, as Python's `$` matches before a final line break, and was taken)."""
    import yaml

    from runner.review import decisions

    (tmp_path / "review.yaml").write_text(yaml.safe_dump({"version": 1, "jobs": {"m/a": entry}}))
    try:
        load_review(tmp_path)
        told = 0
    except ReviewFileError as error:
        told = len(error.diagnostics())
    assert (told == 0) == decisions._entry_fine("m/a", entry), entry
