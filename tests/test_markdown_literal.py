"""Values in the pull-request comment and the job summary render as their literal text.

Rendered with cmark-gfm (PyPI cmarkgfm, GitHub's own renderer, with its GFM extensions: tables,
autolinks, strikethrough, the tag filter): no element comes from a value, its text is the
value's, and no `@name` or `#12` is left for GitHub's mention and reference filters (they are
not cmark's, so the rendered text is checked for them).
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.commands import github
from runner.execute.scheduler import JobFailure
from runner.markdown import md_code, md_text, utf16_len
from runner.plan.diff import DiffEntry, DiffTotals, PlanDiff
from runner.plan.diff_output import COMMENT_LIMIT, COMMENT_MARKER, TABLE_ROWS, diff_markdown
from runner.printable import controls_shown
from tests.runhelp import make_plan

NAMED = (
    "![px](http://evil.example/p.png)",
    "[c](javascript:alert(1))",
    "<javascript:alert(1)>",
    "www.evil.example",
    "WWW.evil.example/path",
    "https://evil.example/x?y=1",
    "see http://evil.example.",
    "ftp://evil.example/f",
    "mailto:someone@evil.example",
    "xmpp:someone@evil.example",
    "someone@evil.example",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "</details> escaped",
    "</td></tr></table>",
    "a|b`c`d",
    "``code`` and `more`",
    "*emphasis* _under_ **strong** __also__",
    "~~struck~~ ~one~",
    "$x^2$ and $$y$$",
    "@octocat and @org/team, cc @a-b",
    "fixes #12 and org/repo#34",
    "&amp; &#64; &lt;b&gt; &copy",
    "[^1] and [ ] and [x]",
    "a\\*b\\ c\\",
    "| col | col |",
    ":+1: :rocket:",
    "line\nbreak\r\nand\u2028separator",
    "\x1b]0;TITLE\x07 and \u202e",
    "trailing two spaces  ",
    "<!-- comment --> <?pi?> <![CDATA[x]]>",
    "##[warning]INJECTED ::error::x",
)
_FRAGMENTS = [
    *NAMED,
    *"`*_~[]()<>!|&$:@#\\/.-+=\"' \t\nwaeh0123456789\u200b\u00a0\U0001f600",
    "www.",
    "http://",
    "https://",
    "javascript:",
    "@o",
    "#1",
    "&#",
    ";",
    "![",
    "](",
    "<a",
    "</",
    "```",
    "~~",
    "**",
    "__",
    "$$",
    "[^",
    "<http://x.y>",
]
HOSTILE_TEXT = st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join)


class _Tree(HTMLParser):
    """Tags in order, and the text inside each <td>, <li>, <p>, <code>, <summary>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag + "/")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.tags.append("!--")


def render(markdown: str) -> str:
    """As GitHub renders it: GFM extensions, and our own raw HTML (<code>, <details>) kept."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def parsed(markdown: str) -> _Tree:
    tree = _Tree()
    tree.feed(render(markdown))
    tree.close()
    return tree


def shown(value: str) -> str:
    """What a reader must see: the value on one line, control characters written out."""
    return controls_shown(" ".join(value.split()))


def no_mentions(text: str) -> None:
    assert not re.search(r"@[A-Za-z0-9]", text), text  # GitHub's MentionFilter would link it
    assert not re.search(r"#[0-9]", text), text  # and the issue reference filter this


CONTEXTS = {  # where a value goes, by what the comment and the summaries write around it
    "cell": "| a | b |\n| --- | --- |\n| {text} | x |\n",
    "code cell": "| a |\n| --- |\n| {code} |\n",
    "item": "<details><summary>s</summary>\n\n- new: {code} {text}\n</details>\n",
    "paragraph": "**The run stopped:** {text}\n",
}


def _check_literal(value: str) -> None:
    expected = shown(value).replace("\u200b", "")
    for name, template in CONTEXTS.items():
        markdown = template.format(text=md_text(value, 10**6), code=md_code(value, 10**6))
        tree = parsed(markdown)
        benign = parsed(template.format(text="x" if expected else "", code=md_code("x")))
        assert tree.tags == benign.tags or not expected, (name, value, render(markdown))
        text = "".join(tree.text).replace("\u200b", "")
        no_mentions("".join(tree.text))
        assert expected in text, (name, value, render(markdown))


@pytest.mark.parametrize("value", NAMED)
def test_each_named_attack_renders_as_its_literal_text(value: str) -> None:
    _check_literal(value)


@settings(max_examples=300, deadline=None)
@given(value=HOSTILE_TEXT)
def test_any_value_renders_as_its_literal_text(value: str) -> None:
    _check_literal(value)


def test_a_cut_value_is_cut_between_escapes_and_counted_after_them() -> None:
    for value in ("@" * 500, "&" * 500, "\U0001f600" * 500, "a|" * 500, "#1" * 500):
        text = md_text(value, 200)
        assert utf16_len(text) <= 200 and text.endswith("…")
        tree = parsed(f"| a |\n| --- |\n| {text} |\n")
        assert tree.tags == parsed("| a |\n| --- |\n| x |\n").tags
    assert md_text("x" * 200, 200) == "x" * 200  # exactly the limit: not cut


def _entry(number: int, value: str) -> DiffEntry:
    return DiffEntry(
        "new" if number % 2 else "changed",
        f"{value}/{number}.png",
        {"market": value, "n": number},
        f"market={value} {number}",
        ("prompt",),
        1,
        0.04,
        f"{number:064x}",
    )


def _diff(values: list[str]) -> PlanDiff:
    entries = tuple(_entry(number, value) for number, value in enumerate(values))
    return PlanDiff("state", entries, DiffTotals(len(values), 0, 0, 0, 0, len(values), 1.0))


def test_the_comment_has_only_its_own_elements_whatever_the_values(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    values = [*NAMED, *NAMED]  # a table row and a folded list item each
    hostile = diff_markdown(plan, _diff(values), recipe="recipes/</details>@me `x`.yaml")
    benign = diff_markdown(plan, _diff(["v"] * len(values)), recipe="recipes/r.yaml")
    tree = parsed(hostile)
    assert tree.tags == parsed(benign).tags
    no_mentions("".join(tree.text))
    text = "".join(tree.text).replace("\u200b", "")
    for value in NAMED:
        assert f"market={shown(value)} " in text, value
        assert shown(f"{value}/") in text, value


def test_the_job_summaries_have_only_their_own_elements(tmp_path: Path) -> None:
    def summary(value: str) -> str:
        failures = [JobFailure(f"k{i}", f"label {value}", {"m": value}, value) for i in range(3)]
        totals = {"jobs": 3, "failed": 3}
        run = github.run_summary(
            recipe=f"{value}.yaml", totals=totals, cost_usd=0.0, failures=failures,
            report=f"{value}/report.html", fatal=value,
        )  # fmt: skip
        return run + github.verify_summary(value, [value], [value], [f"{value}.png"])

    benign = parsed(summary("v")).tags
    for value in NAMED:
        tree = parsed(summary(value))
        assert tree.tags == benign, (value, render(summary(value)))
        no_mentions("".join(tree.text))
        assert shown(value) in "".join(tree.text).replace("\u200b", "")


@pytest.mark.parametrize("value", ["&" * 300, "@" * 300, "\U0001f600" * 300, "<|>`" * 80])
def test_a_5000_job_comment_stays_under_the_limit_after_escaping(tmp_path, value) -> None:
    plan = make_plan(tmp_path)
    diff = _diff([value] * 5_000)
    text = diff_markdown(plan, diff, recipe="recipes/" + value + ".yaml")
    assert utf16_len(text) <= COMMENT_LIMIT
    assert text.startswith(COMMENT_MARKER)
    tree = parsed(text)
    assert tree.tags.count("tr") == 1 + TABLE_ROWS
    assert tree.tags.count("details") == tree.tags.count("/details") == 1
    assert tree.tags[-1] == "/details"
    assert "run `backdrop plan --diff` for the whole list" in text


def test_the_comment_uses_its_room(tmp_path: Path) -> None:
    """Plain values: the folded list fills the comment nearly to the limit, then says how many
    more there are (the cut is not overly cautious)."""
    plan = make_plan(tmp_path)
    text = diff_markdown(plan, _diff([f"market-{i}" for i in range(5_000)]), recipe="r.yaml")
    assert COMMENT_LIMIT - 500 < utf16_len(text) <= COMMENT_LIMIT
    shown_items = text.count("\n- new: ") + text.count("\n- changed: ")
    more = int(re.search(r"- \.\.\. and ([\d,]+) more", text)[1].replace(",", ""))  # type: ignore[index]
    assert shown_items + more == 5_000


def test_no_value_in_the_comment_is_a_code_span_it_could_break_out_of(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    entry = dataclasses.replace(_entry(0, "x"), output="a`b|c`d.png", label="a|b`c`d")
    text = diff_markdown(plan, PlanDiff("state", (entry,), DiffTotals(1, 0, 0, 0, 0, 1, 0.04)),
                         recipe="r.yaml")  # fmt: skip
    html = render(text)
    assert "<code>a`b|c`d.png</code>" in html
    assert "<td>a|b`c`d</td>" in html
