"""Property: any template built from filters, tests, operators and odd values renders or gives a
TemplateProblem (a diagnostic), never another exception (an internal error, exit 70)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.plan.templates import TemplateProblem, TemplateRenderer
from runner.templating.environment import make_template_environment

_ENV = make_template_environment()
FILTERS = sorted(_ENV.filters)
TESTS = sorted(_ENV.tests)
VALUES = [
    "season", "product", "product.name", "n", "none", "true", "-1", "0", "3", "1.5", "'x'",
    "''", "'\\ud800'", "[1, 2]", "(1, 2)", "{'a': 1}", "range(3)", "t", "[t, t]", "missing",
    "namespace(a=1)", "dict(a=1)", "-(10 ** 5)",
]  # fmt: skip
ARGS = ["", "-1", "0", "2", "99999", "'a'", "none", "true", "[1]", "{'a': 1}", "'upper'"]
INDEXES = ["0", "-1", "999", "'a'", "1:2"]
OPERATORS = ["~", "+", "-", "*", "/", "//", "%", "**", "==", "<", "in", "and", "or"]

value = st.sampled_from(VALUES)
call_args = st.lists(st.sampled_from(ARGS), max_size=3).map(
    lambda args: ", ".join(a for a in args if a)
)
# Each strategy made once, not per draw: a new one is validated and wrapped again each time,
# which was half of drawing a template. The draws are the same (recorded for three seeds).
filters, tests, operators, indexes = map(st.sampled_from, [FILTERS, TESTS, OPERATORS, INDEXES])
choices = [st.integers(0, 4 if depth < 3 else 0) for depth in range(4)]
shapes = st.sampled_from(["{{ %s }}", "{%% for x in %s %%}{{ x }}{%% endfor %%}"])


@st.composite
def expression(draw: st.DrawFn, depth: int = 0) -> str:
    choice = draw(choices[depth])
    if choice == 0:
        return draw(value)
    inner = draw(expressions[depth + 1])
    if choice == 1:
        return f"({inner})|{draw(filters)}({draw(call_args)})"
    if choice == 2:
        return f"({inner}) is {draw(tests).strip('!=<>') or 'defined'}"
    if choice == 3:
        return f"({inner}) {draw(operators)} ({draw(expressions[depth + 1])})"
    return f"({inner})[{draw(indexes)}]"


expressions = [expression(depth) for depth in range(4)]


@st.composite
def template(draw: st.DrawFn) -> str:
    expr = draw(expressions[0])
    shape = draw(shapes)
    return shape % expr


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template())
def test_any_template_renders_or_is_a_template_problem(text):
    renderer = TemplateRenderer()
    context = {
        **renderer.globals,
        "season": "spring",
        "product": {"name": "Mug", "sku": "M-1"},
        "n": 7,
        "t": "x" * 60_000,
    }
    try:
        result = renderer.render(text, context)
    except TemplateProblem:
        return
    assert isinstance(result, str)
