"""Templates that would recurse forever or build enormous text fail as template problems.

Sizes here are a few megabytes: above the caps, yet harmless if a guard were missing (the test
then fails on its assertion instead of exhausting the machine).
"""

from __future__ import annotations

import pytest

from runner.plan.templates import TemplateProblem, TemplateRenderer
from runner.templating.sandbox_limits import MAX_RENDERED, MAX_TEXT
from tests.plan_support import plan_errors, png_bytes

BIG = 5_000_000


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def render(renderer: TemplateRenderer, text: str) -> str:
    context = {**renderer.globals, "s": "x" * 90_000, "n": BIG}
    return renderer.render(text, context)


def problem(renderer: TemplateRenderer, text: str) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as caught:
        render(renderer, text)
    return caught.value


def test_endless_macro_recursion_is_a_template_problem(tmp_path):
    prompt = "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"
    text = f"version: 1\nname: t\nimage: a.png\nprompt: '{prompt}'\noutput: mug\n"
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes()})
    assert diagnostic.path == "prompt"
    assert diagnostic.message.startswith("this template calls itself without end")


def test_a_template_nested_too_deeply_to_parse_is_a_problem(renderer):
    text = "{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}"
    assert "nested too deeply" in problem(renderer, text).message


@pytest.mark.parametrize(
    ("template", "what"),
    [
        ("{{ 'x'|center(n) }}", "center"),
        ("{{ 'x'.center(n) }}", "center"),
        ("{{ 'x'.ljust(n) }}", "ljust"),
        ("{{ 'x'.rjust(n, '-') }}", "rjust"),
        ("{{ '1'.zfill(n) }}", "zfill"),
        ("{{ ('\t' * 1000).expandtabs(n) }}", "expandtabs"),
        ("{{ '{:>5000000}'.format(1) }}", "the format width 5000000"),
        ("{{ '{:>{}}'.format(1, n) }}", "the format width 5000000"),
        ("{{ '{a:>{w}}'.format_map({'a': 1, 'w': n}) }}", "the format width 5000000"),
        ("{{ '%5000000d' % 1 }}", "the format width 5000000"),
        ("{{ '%.5000000f' % 1.5 }}", "the format width 5000000"),
        ("{{ '%*d' % (n, 1) }}", "the format width 5000000"),
        ("{{ '%5000000d'|format(1) }}", "the format width 5000000"),
        ("{{ s.replace('', s) }}", "this replace"),
        ("{{ s|replace('x', s) }}", "this replace"),
        ("{{ s.join(s) }}", "this join"),
        ("{{ [s, s]|join }}", "this join"),
        ("{{ ([s] * 100)|join }}", "repeats text too many times"),
        ("{{ range(100)|join(s) }}", "this join"),
        ("{{ 'a\nb'|indent(n) }}", "indent"),
        ("{{ 'a'|indent(n, first=true) }}", "indent"),
        ("{{ ('a\n' * 40000)|indent(100) }}", "indent"),
        ("{{ s|wordwrap(1, wrapstring='--') }}", "wordwrap"),
        ("{{ s ~ s }}", "this '~'"),
        ("{% set a = s %}{% for i in range(10) %}{% set a = a ~ a %}{% endfor %}{{ a }}", "'~'"),
        ("{{ s + s }}", "this '+'"),
        ("{% set a = [0] * 20000 %}{{ [a, a, a, a, a, a]|sum(start=[])|length }}", "this sum"),
    ],
)
def test_text_bombs_are_refused_before_they_are_built(renderer, template, what):
    found = problem(renderer, template)
    assert found.message.startswith(what) or what in found.message
    assert f"{MAX_TEXT:,}" in found.message
    assert "keep what it builds short" in (found.hint or "")


@pytest.mark.parametrize(
    "template",
    ["{{ range(3)|batch(n, 'x')|list|length }}", "{{ range(3)|slice(n)|list|length }}"],
)
def test_lists_padded_to_a_huge_size_are_refused(renderer, template):
    assert f"longer than {MAX_TEXT:,} items" in problem(renderer, template).message


def test_tojson_indent_is_capped(renderer):
    assert "indent may be at most 16" in problem(renderer, "{{ [1]|tojson(indent=n) }}").message
    assert render(renderer, "{{ [1]|tojson(indent=2) }}") == "[\n  1\n]"


def test_the_rendered_text_of_one_template_is_capped(renderer):
    found = problem(renderer, "{% for i in range(100) %}{{ s }}{% endfor %}")
    assert found.message == f"the template makes text longer than {MAX_RENDERED:,} characters"


def test_ordinary_uses_of_the_guarded_operations_still_work(renderer):
    text = (
        "{{ 'ab'|center(6) }}|{{ 'a'.ljust(3, '.') }}|{{ '%3d' % 5 }}|{{ '{:>4}'.format(1) }}|"
        "{{ ['a', 'b']|join(',') }}|{{ 'a' ~ 'b' ~ 1 }}|{{ [1, 2]|sum }}|{{ 'x'|indent(2, true) }}|"
        "{{ '%s-%s'|format('a', 'b') }}|{{ 'a-b'|replace('-', '_') }}|"
        "{{ '{a}'.format_map({'a': 1}) }}|"
        "{{ 'a' + 'b' }}|{{ [[1], [2]]|sum(start=[]) }}|{{ [{'k': 'v'}]|join(attribute='k') }}|"
        "{{ '7'.zfill(3) }}|{{ 'a b c'|wordwrap(2) }}|{{ range(4)|batch(3, 0)|list }}"
    )
    assert render(renderer, "{{ 'x'|indent(n) }}") == "x"  # one line: nothing to indent
    assert render(renderer, text) == (
        "  ab  |a..|  5|   1|a,b|ab1|3|  x|a-b|a_b|1|ab|[1, 2]|v|007|a\nb\nc|[[0, 1, 2], [3, 0, 0]]"
    )
