"""Canaries: one test per Jinja internal the template guards hook (templating/sandbox_limits.py).

jinja2 is pinned to one minor release; when a new release moves one of these, the matching
test fails in CI, naming what moved, before any recipe can escape a guard.
"""

from __future__ import annotations

import inspect

import pytest
from jinja2 import Undefined, compiler
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator
from jinja2.meta import TrackingCodeGenerator
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace

from runner.plan.templates import TemplateProblem, TemplateRenderer
from runner.templating import sandbox_limits
from runner.templating.environment import make_template_environment, undeclared_names
from runner.templating.render_budget import text_size


@pytest.fixture(scope="module")
def env():
    return make_template_environment()


def source(env, text: str) -> str:
    return env.compile(text, raw=True)


def problem(text: str, **context) -> TemplateProblem:
    renderer = TemplateRenderer()
    with pytest.raises(TemplateProblem) as caught:
        renderer.render(text, {**renderer.globals, **context})
    return caught.value


def test_code_generator_class_visit_concat_is_replaced(env):
    assert "visit_Concat" in vars(CodeGenerator)
    assert "environment.concat_guarded((" in source(env, "{{ a ~ b }}")


def test_code_generator_class_visit_for_wraps_the_iterable(env):
    assert "visit_For" in vars(CodeGenerator)
    assert "environment.guard_loop" in source(env, "{% for x in y %}{{ x }}{% endfor %}")


def test_code_generator_compare_operand_and_dict_pass_through_compared(env):
    assert {"visit_Compare", "visit_Operand", "visit_Dict"} <= set(vars(CodeGenerator))
    assert "operators" in vars(compiler)
    code = source(env, "{{ a == b < c }}{{ a in b }}{{ {a: 1} }}")
    assert "(environment.compared((undefined(name='a') if l_0_a is missing else l_0_a))" in code
    assert " == environment.compared(" in code
    assert " < environment.compared(" in code
    assert " in environment.compared(" in code
    assert "{environment.compared(" in code


def test_compiled_code_maps_its_lines_to_the_template_lines(env):
    # runner/plan/templates.py reads a failed render's template line from these (no rewrite).
    template = env.from_string("{{ a }}")
    assert template.root_render_func.__globals__["__jinja_template__"] is template
    assert callable(getattr(template, "get_corresponding_lineno", None))
    found = problem("line one\n\n{{ a.b.c }}", a={})
    assert found.line == 3


def test_sandbox_getitem_is_how_subscripts_are_looked_up(env):
    assert "getitem" in vars(SandboxedEnvironment)
    assert "environment.getitem(" in source(env, "{{ a[b] }}")


def test_optimizer_is_off_so_no_expression_runs_while_compiling(env):
    assert env.optimized is False
    assert "'3'" not in source(env, "{{ 1 + 2 }}")


def test_finalize_takes_the_context_so_outputs_are_not_folded(env):
    assert "environment.finalize(context, " in source(env, "{{ 'a'|center(5) }}")


def test_tracking_code_generator_has_an_optimizer_to_switch_off(env):
    assert hasattr(TrackingCodeGenerator(env), "optimizer")
    parsed = env.parse("{{ (-1)[999] ~ x }}")
    assert undeclared_names(env, parsed) == {"x"}  # would raise UndefinedError when folded


def test_template_root_render_func_and_context_class_signature(env):
    template = env.from_string("{{ a }}")
    assert callable(template.root_render_func)
    assert issubclass(env.context_class, Context)
    params = list(inspect.signature(Context.__init__).parameters)
    assert params[:5] == ["self", "environment", "parent", "name", "blocks"]
    ctx = env.context_class(env, {"a": "x"}, template.name, template.blocks)
    assert "".join(template.root_render_func(ctx)) == "x"


def test_context_derived_is_how_scoped_blocks_get_their_context(env):
    assert "derived" in vars(Context)
    text = "{% for i in [1] %}{% block b scoped %}{{ i }}{% endblock %}{% endfor %}"
    assert ".derived(" in source(env, text)


def test_undefined_exception_attribute_carries_the_missing_name():
    assert "_undefined_exception" in Undefined.__slots__
    assert "_fail_with_undefined_error" in vars(Undefined)
    found = problem("{{ product.nmae }}", product={"name": "mug"})
    assert found.message == "'product' has no field 'nmae' (did you mean 'name'?)"


def test_sandbox_call_and_call_binop_are_the_hooks_used(env):
    assert "call" in vars(SandboxedEnvironment)
    assert "call_binop" in vars(SandboxedEnvironment)
    assert {"*", "**", "+", "%"} <= env.intercepted_binops
    assert "environment.call_binop(context, '*'," in source(env, "{{ a * b }}")
    assert "environment.call(context, " in source(env, "{{ f(1) }}")
    assert "repeats text" in problem("{{ 'x' * n }}", n=10**6).message
    assert "center" in problem("{{ 'x'.center(n) }}", n=10**6).message


def test_sandbox_wrap_str_format_and_formatter(env):
    assert "wrap_str_format" in vars(SandboxedEnvironment)
    assert "get_field" in vars(SandboxedFormatter)
    assert "format width" in problem("{{ '{:>9999999}'.format(1) }}").message
    assert "Python internals" in problem("{{ '{0.__class__}'.format(1) }}").message


def test_recursive_loops_are_loop_context_calls():
    assert callable(LoopContext.__call__)
    # 11 recursive calls of 99,999 items each: over the budget only if their items are charged.
    text = (
        "{% for a in range(11) recursive %}{% if loop.depth == 1 %}{{ loop(range(99999)) }}"
        "{% endif %}{% endfor %}"
    )
    assert problem(text).skip_later  # the work or the time budget, whichever ends first


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("center", {"value", "width"}),
        ("indent", {"s", "width", "first"}),
        ("format", {"value", "args", "kwargs"}),
        ("replace", {"s", "old", "new", "count"}),
        ("join", {"value", "d", "attribute"}),
        ("wordwrap", {"s", "width", "wrapstring"}),
        ("batch", {"value", "linecount"}),
        ("slice", {"value", "slices"}),
        ("tojson", {"value", "indent"}),
        ("sum", {"iterable", "attribute", "start"}),
    ],
)
def test_guarded_filters_keep_their_parameter_names(name, params):
    assert name in sandbox_limits._FILTER_CHECKS
    original = jinja_filters.FILTERS[name]
    assert params <= set(inspect.signature(original).parameters)


def test_filters_keep_their_pass_marks_when_wrapped(env):
    assert getattr(env.filters["map"], "jinja_pass_arg", None) is not None
    assert hasattr(jinja_filters, "make_attrgetter")


def test_namespace_keeps_its_attributes_in_a_private_dict():
    ns = Namespace(a="x" * 10)
    assert object.__getattribute__(ns, "_Namespace__attrs") == {"a": "x" * 10}
    assert text_size(ns, "ns") >= 10
