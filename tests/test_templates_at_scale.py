"""Templates at scale: work that is small in each job but large over thousands of jobs, and
values whose cost does not show in their size. Each ends as a diagnostic (exit 2), bounded by
counted work rather than by a clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.diagnostics import EXIT_OK, EXIT_USAGE
from runner.plan import templates
from runner.plan.job_context import JobContext
from runner.plan.templates import TemplateProblem, TemplateRenderer
from runner.templating.render_budget import MAX_COMPARED
from tests.clihelp import run_cli
from tests.plan_support import png_bytes, write_files
from tests.work_bound import python_lines_at_most

JOBS = 400  # 20 x 20


def plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], prompt: str, *args: str) -> str:
    """`backdrop plan` on a recipe of JOBS jobs whose prompt is `prompt`; its output."""
    axis = "[" + ", ".join(f"v{index}" for index in range(20)) + "]"
    write_files(
        tmp_path,
        {
            "a.png": png_bytes(),
            "recipe.yaml": f"version: 1\nname: scale\nmatrix:\n  a: {axis}\n  b: {axis}\n"
            f'image: a.png\nprompt: {json.dumps(prompt)}\noutput: "{{{{ a }}}}/{{{{ b }}}}"\n',
        },
    )
    result = run_cli(capsys, "plan", str(tmp_path / "recipe.yaml"), *args)
    assert "internal error" not in result.err
    return f"{result.code}\n{result.out}{result.err}"


@pytest.fixture
def small_plan_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """A plan-wide cap of 1,000,000 steps: 50 renders of 20,000 instead of 500 (the real one)."""
    monkeypatch.setattr(templates, "MAX_PLAN_STEPS", 1_000_000)
    return 1_000_000


LOOP = "{% for i in range(20000) %}{% endfor %}{{ a }} {{ b }}"


def test_light_renders_count_toward_the_plan_wide_cap(tmp_path, capsys, small_plan_cap):
    # Each render stays far below the per-render budget (and the old "heavy render" threshold),
    # so only a total over all the renders can bound 10,000 jobs of it.
    out = plan(tmp_path, capsys, LOOP)
    assert out.startswith(f"{EXIT_USAGE}\n")
    assert (
        "recipe.yaml:7:9: error: prompt: not rendered: the recipe's templates together used the "
        "work one plan may do (1,000,000 steps: loop iterations, calls, filters); this one took "
        "about 20,006 steps per job (in job a=v2 b=v10 and 349 other jobs)"
    ) in out
    assert "hint: make the templates that take the most steps per job simpler" in out


def test_failing_renders_count_toward_the_plan_wide_cap_too(tmp_path, capsys, small_plan_cap):
    out = plan(tmp_path, capsys, LOOP + "{{ nope }}")
    assert out.startswith(f"{EXIT_USAGE}\n")
    assert "error: prompt: 'nope' is undefined (in job a=v0 b=v0 and 49 other jobs)" in out
    assert "not rendered: the recipe's templates together used the work one plan may do" in out


def test_an_ordinary_template_takes_a_few_steps_of_the_plan_wide_cap():
    # The cap must never bite an ordinary plan: bench_plan.py's templates, rendered as jobs.
    renderer = TemplateRenderer()
    prompt = "{{ product.name }} on {{ market.setting }} in {{ season }}, {{ brand }} palette"
    output = "{{ market.code }}/{{ product.sku | slug }}-{{ season }}"
    for index in range(1000):
        context = {
            **renderer.globals,
            "product": {"name": f"mug {index}", "sku": f"MUG-{index:05d}"},
            "market": {"code": "fr-FR", "setting": "a café terrace"},
            "season": "spring",
            "brand": "Acme",
        }
        renderer.render(prompt, context)
        renderer.render(output, context)
    assert 0 < renderer.plan_steps < 40 * 1000  # 10,000 jobs of it take 4% of the cap
    assert templates.MAX_PLAN_STEPS // 20 > 40 * 10_000


@pytest.mark.parametrize("depth", [26, 60])
def test_comparing_lists_that_share_their_levels_is_refused(tmp_path, capsys, depth):
    # Two lists of `depth` levels, each level holding the one below twice: a few hundred bytes,
    # 2**depth items for == to compare (60 levels never ended; 26 took a second per job).
    prompt = (
        "{% set ns = namespace(x=[1], y=[1]) %}"
        f"{{% for i in range({depth}) %}}{{% set ns.x = [ns.x, ns.x] %}}"
        "{% set ns.y = [ns.y, ns.y] %}{% endfor %}{{ ns.x == ns.y }} {{ a }} {{ b }}"
    )
    out = plan(tmp_path, capsys, prompt)
    assert out.startswith(f"{EXIT_USAGE}\n")
    assert (
        f"error: prompt: the template compares values that hold more than {MAX_COMPARED:,} "
        f"items (lists inside lists count every item) (in all {JOBS} jobs)"
    ) in out


@pytest.mark.parametrize(
    "expression",
    [
        "ns.x in [ns.y]",
        "[ns.t, (ns.t, 1)]|unique|list",
        "[ns.x, ns.y]|sort",
        "[ns.x, ns.y]|max",
        "[ns.x].count(ns.y)",
        "ns.x is eq(ns.y)",
        "{ns.t: 1}",
        "{(1,): 1}[ns.t]",
    ],
)
def test_every_way_to_compare_or_hash_charges_what_it_holds(expression):
    renderer = TemplateRenderer()
    text = (
        "{% set ns = namespace(x=[1], y=[1], t=(1,)) %}{% for i in range(24) %}"
        "{% set ns.x = [ns.x, ns.x] %}{% set ns.y = [ns.y, ns.y] %}{% set ns.t = (ns.t, ns.t) %}"
        f"{{% endfor %}}{{{{ {expression} }}}}"
    )
    with pytest.raises(TemplateProblem) as caught:
        renderer.render(text, renderer.globals)
    assert f"more than {MAX_COMPARED:,} items" in caught.value.message


def test_a_namespace_that_holds_itself_prints_as_python_prints_it(tmp_path, capsys):
    # Measuring it walked round the loop up to the size cap in every job (100,000 steps each).
    prompt = "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }} {{ a }} {{ b }}"
    with python_lines_at_most(3_000_000):
        out = plan(tmp_path, capsys, prompt, "--json")
    assert out.startswith(f"{EXIT_OK}\n")
    assert "<Namespace {'me': <Namespace {...}>}> v0 v0" in out


MACRO = "{% macro m(k) %}{% if k > 0 %}{{ m(k - 1) }}{% endif %}{% endmacro %}{{ m(300) }}"


def test_a_macro_too_deep_is_rendered_once_not_once_per_job(tmp_path, capsys):
    # 300 calls deep overflows Python's stack; each job used to overflow it again (50 s and
    # 0.9 GB for 10,000 jobs).
    with python_lines_at_most(1_000_000):
        out = plan(tmp_path, capsys, MACRO + "{{ a }} {{ b }}")
    assert out.startswith(f"{EXIT_USAGE}\n")
    assert (
        "error: prompt: this template calls itself without end (a macro that calls itself?) "
        f"(in all {JOBS} jobs)"
    ) in out
    assert "This template was not tried again for the other jobs" in out


def test_a_kept_problem_holds_no_traceback():
    # Kept problems are what stays of a failed render; a RecursionError's frames are 1,000.
    renderer = TemplateRenderer()
    for _ in range(2):
        with pytest.raises(TemplateProblem) as caught:
            renderer.render(MACRO, renderer.globals)
        assert caught.value.skip_later
        assert caught.value.__context__ is None


def test_a_scoped_block_in_a_loop_is_charged_for_the_context_it_copies():
    # Each scoped block copies the whole context (Context.derived): with 60,000 vars, 1,000
    # iterations were 60 million copies that no step counted.
    renderer = TemplateRenderer()
    shared = {**renderer.globals, **{f"var{index:05d}": "x" for index in range(60_000)}}
    context = JobContext(shared, {"a": "v0"})
    text = "{% for i in range(1000) %}{% block b scoped %}{% endblock %}{% endfor %}{{ a }}"
    with pytest.raises(TemplateProblem) as caught:
        renderer.render(text, context)
    assert caught.value.message.startswith("the template does too much work")


@pytest.mark.parametrize(
    ("template", "at_least"),
    [
        ("{{ t | max }}", 3 * 99_999),  # one character out, 60 ms of Python in
        ("{{ t | urlize | length }}", 5 * 99_999),
        ("{{ t | list | sort | first }}", 12 * 99_999),
        ("{{ t | upper | length }}", 0),  # C code over the text: one step
    ],
)
def test_filters_are_charged_for_the_items_they_walk(template, at_least):
    # Charged only by what they built, 10,000 jobs of `t | max` took ten minutes.
    renderer = TemplateRenderer()
    renderer.render(template, {**renderer.globals, "t": "ab " * 33_333})
    assert renderer.plan_steps >= at_least
    assert renderer.plan_steps < at_least + 2 * 99_999 + 20
