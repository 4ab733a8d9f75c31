"""Resource bombs from issue 7: each ends as a template diagnostic, quickly and in little memory.

Without the guards, each of these took 10 s to minutes and gigabytes (bench/README.md). They
are bounded by sizes and by the render budget, so a missing guard shows up here as a failed
assertion or a pytest-timeout, not as a machine out of memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.plan.templates import TemplateProblem, TemplateRenderer
from runner.templating.render_budget import MAX_SECONDS, MAX_TEXT, MAX_WORK
from tests.clihelp import run_cli
from tests.plan_support import png_bytes

BIG = "['x' * 99999] * 99999"
TOO_LONG = f"longer than {MAX_TEXT:,} characters"
TOO_MUCH = (f"more than {MAX_WORK:,} steps", f"more than {MAX_SECONDS:g} s")


@pytest.fixture
def renderer() -> TemplateRenderer:
    # One per test: a renderer caps the total time of its slow renders (one plan's worth).
    return TemplateRenderer()


def problem(renderer: TemplateRenderer, text: str) -> TemplateProblem:
    context = {**renderer.globals, "t": "x" * 99_999, "season": "spring"}
    with pytest.raises(TemplateProblem) as caught:
        renderer.render(text, context)
    return caught.value


@pytest.mark.parametrize(
    "template",
    [
        "{{ t }}{{ [t, t] }}",
        "{{ [t, t]|tojson }}",
        "{{ [t, t] ~ '' }}",
        "{{ '%s' % ([t, t],) }}",
        "{{ '{}'.format([t, t]) }}",
        "{{ [t, t]|string }}",
        "{{ [t, t]|pprint }}",
        "{{ [t, t]|upper }}",
        "{{ [[t], [t]]|join }}",
        "{{ [t, t] is lower }}",
        "{% set ns = namespace(a=[t, t]) %}{{ ns }}",
    ],
)
def test_printing_a_container_of_long_text_is_refused_before_it_is_built(renderer, template):
    # A list literal of two long strings is not a repeat: what stops it is the size of its text.
    assert TOO_LONG in problem(renderer, template).message


@pytest.mark.parametrize(
    "template",
    [
        "{{ %s }}" % BIG,  # noqa: UP031 - the issue's exact bombs
        "{{ (%s)|tojson }}" % BIG,  # noqa: UP031
        "{{ (%s) ~ '' }}" % BIG,  # noqa: UP031
        "{{ '%%s' %% (%s,) }}" % BIG,  # noqa: UP031
        "{{ '{}'.format(%s) }}" % BIG,  # noqa: UP031
        "{{ (%s)|string }}" % BIG,  # noqa: UP031
        "{{ (%s)|pprint }}" % BIG,  # noqa: UP031
        "{{ [[0] * 20000] * 10 }}",
    ],
)
def test_repeating_a_container_of_long_text_is_refused(renderer, template):
    assert TOO_LONG in problem(renderer, template).message


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A tenth of the render budget, and the messages that name it. A bomb that escaped the
    budget would run far past either; one that meets it is stopped in a tenth of the time (the
    full budget is tested once, below)."""
    from runner.templating import render_budget

    monkeypatch.setattr(render_budget, "MAX_WORK", MAX_WORK // 10)
    monkeypatch.setattr(render_budget, "MAX_SECONDS", MAX_SECONDS / 10)
    return (f"more than {MAX_WORK // 10:,} steps", f"more than {MAX_SECONDS / 10:g} s")


@pytest.mark.parametrize(
    "template",
    [
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
        "{% for a in range(99999) %}{% for b in range(99999) %}{% for c in range(99999) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in range(99999) if a %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
        "{% for a in range(99999) recursive %}{% if loop.depth < 3 %}{{ loop(range(99999)) }}"
        "{% endif %}{% endfor %}",
        "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
        "{{ m(40) }}",
        "{{ range(99999)|map('center', 99999)|list|length }}",
        "{% for a in range(99999) %}{% set x = t|upper %}{% endfor %}",
        # A scoped block makes a new context on every iteration: the budget goes on.
        "{% for i in range(99999) %}{% block b scoped %}{% for j in range(99999) %}{% endfor %}"
        "{% endblock %}{% endfor %}",
        # What a block set or a macro collects is outside MAX_RENDERED: the budget bounds it.
        "{% set x %}{% for i in range(99999) %}{{ t }}{% endfor %}{% endset %}{{ x|length }}",
        "{% macro m() %}{{ t }}{% endmacro %}{% for i in range(99999) %}{% set x = m() %}"
        "{% endfor %}",
        "{% set ns = namespace(a='') %}{% for i in range(99999) %}"
        "{% set ns.a = (ns.a ~ t[:1000])[-99000:] %}{% endfor %}",
    ],
)
def test_work_without_end_uses_up_the_render_budget(renderer, template, small_budget):
    found = problem(renderer, template)
    assert found.message.startswith("the template "), found.message
    assert any(limit in found.message for limit in small_budget), found.message
    assert found.skip_later


def test_a_template_that_used_up_its_budget_is_not_rendered_again(renderer):
    template = "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"
    first = problem(renderer, template)  # with the full budget
    assert any(limit in first.message for limit in TOO_MUCH), first.message
    again = problem(renderer, template)
    assert again is first  # the same problem, without a second render


@pytest.fixture
def patient_clock(monkeypatch):
    """Tests of the step budget that must render: a loaded CI machine may take over the 1 s
    wall-clock backstop for work well within the steps, so that backstop is moved out of reach."""
    from runner.templating import render_budget

    monkeypatch.setattr(render_budget, "MAX_SECONDS", 60.0)


@pytest.mark.usefixtures("patient_clock")
def test_ordinary_loops_and_macros_fit_the_budget_easily(renderer):
    template = (
        "{% macro sq(n) %}{{ n * n }}{% endmacro %}"
        "{% for i in range(2000) %}{{ sq(i) }},{% endfor %}{% for c in t[:5] %}{{ c }}{% endfor %}"
    )
    context = {**renderer.globals, "t": "x" * 99_999}
    text = renderer.render(template, context)
    assert text.startswith("0,1,4,9,") and text.endswith("3996001,xxxxx")


@pytest.mark.usefixtures("patient_clock")
def test_the_budget_starts_again_for_every_render(renderer):
    # 20 renders of ~100,000 steps each: over the budget together, each well within it.
    template = "{% for a in range(300) %}{% for b in range(300) %}{% endfor %}{% endfor %}ok"
    for season in range(20):
        assert renderer.render(template, {**renderer.globals, "season": season}) == "ok"


def test_plan_names_the_template_that_does_too_much(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mug.png").write_bytes(png_bytes())
    loops = "{% set x %}{% for a in range(99999) %}{{ 'x' * 99999 }}{% endfor %}{% endset %}"
    (tmp_path / "recipe.yaml").write_text(
        "version: 1\nname: bomb\nmatrix:\n  season: [spring, summer, autumn, winter]\n"
        f"image: mug.png\nprompt: a mug in {{{{ season }}}}\noutput: {json.dumps(loops)}\n",
        encoding="utf-8",
    )
    result = run_cli(capsys, "plan", "recipe.yaml")
    assert result.code == 2, result.err
    assert result.err.startswith("recipe.yaml:7:9: error: output: the template does too much")
    assert "not tried again for the other jobs" in result.err


@pytest.mark.usefixtures("patient_clock")
def test_heavy_renders_are_bounded_together_whatever_the_number_of_templates(monkeypatch):
    # Each template stays within its own budget, but there are many (include entries' fields
    # are templates too): the work of their heavy renders together is capped.
    from runner.plan import templates

    monkeypatch.setattr(templates, "MAX_HEAVY_TOTAL", 1_000_000)
    renderer = TemplateRenderer()
    text = "{% for a in range(99999) %}{{ a }}{% endfor %}"  # ~600,000 steps
    for i in range(2):
        assert len(renderer.render(f"{text}{i}", renderer.globals)) > 400_000
    stopped = problem(renderer, f"{text}2")
    assert stopped.message == (
        "not rendered: the recipe's heavy templates (reported here too) already used the work "
        "one plan may do (1,000,000 steps)"
    )
    assert stopped.skip_later
