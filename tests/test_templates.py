"""Sandboxed, strict templates: slug, errors with recipe lines, injection attempts."""

from __future__ import annotations

import pytest

from runner.plan.templates import TemplateProblem, TemplateRenderer, slug
from tests.plan_support import headlines, plan_errors, plan_text, png_bytes

CONTEXT = {"product": {"sku": "MUG-01", "name": "mug", "items": "three"}, "season": "spring"}


def render(text: str, context=None) -> str:
    return TemplateRenderer().render(text, context if context is not None else CONTEXT)


def problem(text: str, context=None) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as caught:
        render(text, context)
    return caught.value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Crème Brûlée / Winter", "creme-brulee-winter"),
        ("  Hello,  World!  ", "hello-world"),
        ("ﬁne Ｆｕｌｌwidth", "fine-fullwidth"),  # NFKD folds ligatures and full-width letters
        ("", ""),
        (42, "42"),
        ("snake_case", "snake-case"),
        # Letters of every script are kept (issue 7: Japanese campaigns got empty names).
        ("南部鉄器の急須", "南部鉄器の急須"),
        ("ｶﾞﾝﾀﾞﾑ 2", "ガンダム-2"),  # half-width kana fold; voicing marks stay on their kana
        ("नमस्ते दुनिया", "नमस्ते-दुनिया"),  # Devanagari vowel signs are kept
        ("Ελληνικά", "ελληνικά"),
        ("한국어 제품", "한국어-제품"),
        ("Straße", "strasse"),
    ],
)
def test_slug(value, expected):
    assert slug(value) == expected
    assert render("{{ v | slug }}", {"v": value}) == expected


@pytest.mark.parametrize("value", ["---", "🎉🎉", "★ ☆"])
def test_slug_says_when_it_removed_every_character(value):
    found = problem("{{ v | slug }}", {"v": value})
    assert found.message == (
        f"| slug removed every character of {value!r}: it keeps only letters and digits"
    )
    assert "without | slug" in (found.hint or "")


def test_plain_strings_are_not_rendered_but_lose_one_trailing_newline_like_templates():
    assert render("no {template} here\n") == "no {template} here"
    assert render("{{ season }}\n") == "spring"


def test_dict_keys_win_over_dict_methods():
    assert render("{{ product.items }}") == "three"


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self.__init__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ season.__class__ }}",
        "{{ product.pop('sku') }}",
        "{{ config }}",
        "{{ range.__self__ }}",
    ],
)
def test_injection_attempts_fail_cleanly(attack):
    found = problem(attack)
    assert (
        "Python internals" in found.message
        or "is undefined" in found.message
        or "has no field" in found.message
    )
    assert CONTEXT["product"]["sku"] == "MUG-01"  # nothing was changed


def test_huge_repetition_and_powers_are_refused():
    assert "repeats text too many times" in problem("{{ 'a' * 10000000 }}").message
    assert "too large a number" in problem("{{ 2 ** 1000000 }}").message


def test_random_filter_is_refused_because_keys_must_be_stable():
    assert "random filter is not allowed" in problem("{{ [1, 2] | random }}").message


def test_unknown_filter_suggests_the_closest():
    assert problem("{{ season | slgu }}").message == (
        "template syntax error: there is no filter named 'slgu' (did you mean 'slug'?)"
    )


def test_undefined_names_suggest_the_closest_defined_one():
    assert problem("{{ prodcut.name }}").message == (
        "'prodcut' is undefined (did you mean 'product'?)"
    )
    missing_field = problem("{{ product.nmae }}")
    assert missing_field.message == "'product' has no field 'nmae' (did you mean 'name'?)"
    assert missing_field.hint == "its fields are: sku, name, items"


def test_undefined_error_reports_the_template_line():
    assert problem("line one\nline two {{ nope }}\n").line == 2


def test_each_template_is_compiled_once():
    renderer = TemplateRenderer()
    for season in ("spring", "summer", "spring"):
        renderer.render("{{ season }}", {"season": season})
    assert len(renderer._compiled) == 1


IMAGE = {"a.png": png_bytes()}


def recipe(prompt: str, output: str = '"{{ season }}"') -> str:
    return (
        "version: 1\n"
        "name: t\n"
        "matrix:\n"
        "  season: [spring, summer, autumn]\n"
        "  product:\n"
        "    - { sku: MUG-01, name: mug }\n"
        "image: a.png\n"
        f"prompt: {prompt}\n"
        f"output: {output}\n"
    )


def test_a_render_in_another_thread_does_not_reset_this_renders_budget(monkeypatch):
    # Renderers share their thread's environment. Two made in one thread and used from two
    # must still keep separate budgets: here the main thread's render stops for a moment
    # between its two loops while another thread renders, and all its steps still count.
    import threading

    from runner.templating import render_budget

    monkeypatch.setattr(render_budget, "MAX_WORK", 1_000)
    heavy, light = TemplateRenderer(), TemplateRenderer()

    def render_light() -> None:
        light.render("{{ n }}", {**light.globals, "n": "x"})

    def between_loops():
        yield 1
        elsewhere = threading.Thread(target=render_light)
        elsewhere.start()
        elsewhere.join()
        yield 2

    text = "{% for _ in gate %}{% for _ in range(600) %}{% endfor %}{% endfor %}done"
    with pytest.raises(TemplateProblem, match="too much work"):
        heavy.render(text, {**heavy.globals, "gate": between_loops()})


def test_undefined_variable_is_reported_once_with_first_job_and_count(tmp_path):
    text = recipe('"{{ prodcut.name }} in {{ season }}"', '"{{ season }}"')
    diagnostics = plan_errors(tmp_path, text, IMAGE)
    assert headlines(diagnostics) == [
        "recipe.yaml:8:9: error: prompt: 'prodcut' is undefined (did you mean 'product'?) "
        "(in all 3 jobs)"
    ]


def test_undefined_in_some_jobs_names_the_first_and_counts_the_others(tmp_path):
    text = recipe("\"{% if season != 'spring' %}{{ product.nmae }}{% endif %} in {{ season }}\"")
    (diagnostic,) = plan_errors(tmp_path, text, IMAGE)
    assert diagnostic.message == (
        "'product' has no field 'nmae' (did you mean 'name'?) "
        "(in job season=summer product=MUG-01 and 1 other job)"
    )


def test_syntax_error_in_block_scalar_points_at_the_recipe_line(tmp_path):
    text = recipe("|\n  {{ product.name }} on a table\n  in {{ season }, soft light")
    (diagnostic,) = plan_errors(tmp_path, text, IMAGE)
    assert diagnostic.span is not None
    assert (diagnostic.span.line, diagnostic.span.col) == (10, 3)
    assert diagnostic.span.text == "  in {{ season }, soft light"
    assert diagnostic.message.startswith("template syntax error:")
    assert "in job" not in diagnostic.message  # found once, before any job is rendered


def test_runtime_error_in_block_scalar_points_at_its_line(tmp_path):
    text = recipe("|\n  {{ product.name }} on a table\n  in {{ seasn }}, soft light")
    (diagnostic,) = plan_errors(tmp_path, text, IMAGE)
    assert str(diagnostic.span) == "recipe.yaml:10:3"
    assert "'seasn' is undefined (did you mean 'season'?)" in diagnostic.message


def test_sandbox_escape_in_a_recipe_is_a_diagnostic(tmp_path):
    text = recipe("\"{{ ''.__class__.__mro__[1].__subclasses__() }}\"")
    (diagnostic,) = plan_errors(tmp_path, text, IMAGE)
    assert diagnostic.headline() == (
        "recipe.yaml:8:9: error: prompt: this template tries to reach Python internals, "
        "which recipes may not do (in all 3 jobs)"
    )


def test_templates_see_axes_vars_include_keys_and_recipe_name(tmp_path):
    text = (
        "version: 1\n"
        "name: spring-campaign\n"
        "vars: { brand: Acme }\n"
        "matrix:\n"
        "  season: [spring, summer]\n"
        "  include:\n"
        "    - { season: summer, mood: sunny }\n"
        "image: a.png\n"
        "prompt: \"{{ brand }} {{ season }} {{ mood | default('calm') }} {{ recipe.name }}\"\n"
        'output: "{{ season | upper }}"\n'
    )
    plan = plan_text(tmp_path, text, IMAGE)
    assert [job.prompt_object.prompt for job in plan.jobs] == [
        "Acme spring calm spring-campaign",
        "Acme summer sunny spring-campaign",
    ]
    assert [job.outputs for job in plan.jobs] == [("SPRING.png",), ("SUMMER.png",)]
