"""Size guards for the template sandbox: no template may fill the memory or run without end.

Jinja's sandbox stops templates from reaching Python internals, not from asking for a
10-gigabyte string (`{{ 'x'|center(10**10) }}`) or a loop of 10^10 steps. Every operation here
that can make text far longer than its inputs (widths, repeats, joins, replacements,
concatenation, printing a container) is checked against MAX_TEXT before it runs, and every loop
iteration, call and filter is charged to the render's budget (render_budget.py).

Design (issue 7): the guards stay in-process, hooked into Jinja, rather than rendering in a
worker process under `resource` limits and a timeout. Memory limits (RLIMIT_AS) are not enforced
on macOS and `resource` does not exist on Windows, where most of our users are; a worker per plan
also costs startup time and loses the message that names the template. The price is coupling to
Jinja's internals, so jinja2 is pinned to one minor release in pyproject.toml and
tests/test_template_canaries.py has one test per hooked internal: CodeGenerator.visit_Concat,
visit_For, visit_Compare, visit_Operand and visit_Dict (and compiler.operators),
SandboxedEnvironment.getitem, Template.root_render_func, Environment.context_class and
Context.derived, Undefined._undefined_exception, SandboxedEnvironment.call / call_binop /
intercepted_binops / wrap_str_format, SandboxedFormatter, meta.TrackingCodeGenerator.optimizer,
finalize with pass_context (no folding), LoopContext calls (recursive loops), filters' parameter
names and pass marks, and Namespace's attributes. A Jinja release that moves one of them fails
CI rather than users. Imported lazily: it imports jinja2.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, operators
from jinja2.filters import make_attrgetter
from jinja2.nodes import Concat

from runner.templating import costs
from runner.templating.render_budget import MAX_TEXT, RenderBudget, TooLarge, TooMuchWork, text_size

__all__ = ["MAX_RENDERED", "MAX_TEXT", "TooLarge", "TooMuchWork"]

MAX_RENDERED = 1_000_000  # longest result of one template
MAX_POWER_BITS = 4096  # largest integer `**` may build
MAX_JSON_INDENT = 16

_TOO_LONG = f"longer than {MAX_TEXT:,} characters"
# A printf-style conversion: flags, width, precision (each may be `*`).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")


def _need(length: int, what: str) -> None:
    if length > MAX_TEXT:
        raise TooLarge(f"{what} would make text {_TOO_LONG}")


def _width(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        _need(value, what)


# --- operators -------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `*`, `**`, `+` and `%` whose result would be too large."""
    if operator == "**" and _is_int(left) and _is_int(right):  # noqa: SIM102
        if right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_POWER_BITS:
            raise TooLarge(f"{left} ** {right} is too large a number for a recipe")
    if operator == "*":
        if (
            _is_int(left)
            and _is_int(right)
            and left.bit_length() + right.bit_length() > 2 * MAX_POWER_BITS
        ):
            raise TooLarge("this '*' makes too large a number for a recipe")
        for sequence, count in ((left, right), (right, left)):
            # Deep size: ['x' * 99999] * 99999 is a short list of 10 GB of text.
            repeated = isinstance(sequence, str | list | tuple) and _is_int(count) and count > 1
            if repeated and text_size(sequence, "this repeat") * count > MAX_TEXT:
                raise TooLarge(f"this template repeats text too many times ({_TOO_LONG})")
    if operator == "+":
        sized = (str, list, tuple)
        if isinstance(left, sized) and isinstance(right, sized):
            _need(text_size(left, "this '+'") + text_size(right, "this '+'"), "this '+'")
    if operator == "%" and isinstance(left, str):
        check_percent(left, right)


def check_percent(template: str, values: Any) -> None:
    """printf-style formatting: no width or precision beyond the cap, given or by `*`."""
    text_size(values, "this '%'")
    stars = False
    for match in _PERCENT_SPEC.finditer(template):
        for part in match.groups():
            if part == "*":
                stars = True
            elif part is not None:
                _need(int(part), f"the format width {part}")
    if stars:
        for value in values if isinstance(values, tuple) else (values,):
            if isinstance(value, int) and not isinstance(value, bool):
                _need(abs(value), f"the format width {value}")


def concat(parts: Iterable[Any]) -> str:
    """The `~` operator, with the size check Jinja's own str_join lacks."""
    texts = []
    total = 0
    for part in parts:
        total += text_size(part, "this '~'")
        _need(total, "this '~'")
        texts.append(str(part))
    return "".join(texts)


class GuardedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to `environment.concat_guarded((a, b))`, charges every loop step, and
    passes what `==`, `<`, `in`... compare and dict literals hash through `environment.compared`,
    which charges every item they hold."""

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("(environment.compared(")
        self.visit(node.expr, frame)
        self.write(")")
        for operand in node.ops:
            self.visit(operand, frame)
        self.write(")")

    def visit_Operand(self, node: nodes.Operand, frame: Frame) -> None:
        self.write(f" {operators[node.op]} environment.compared(")
        self.visit(node.expr, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("{")
        for index, item in enumerate(node.items):
            if index:
                self.write(", ")
            self.write("environment.compared(")
            self.visit(item.key, frame)
            self.write("): ")
            self.visit(item.value, frame)
        self.write("}")

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.concat_guarded((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # `for x in environment.guard_loop(items)`, through the sandbox's call like any call.
        charged = nodes.Call(
            nodes.EnvironmentAttribute("guard_loop"), [node.iter], [], None, None
        ).set_lineno(node.lineno)
        copy = nodes.For(node.target, charged, node.body, node.else_, node.test, node.recursive)
        copy.set_lineno(node.lineno)
        super().visit_For(copy, frame)


# --- str methods -----------------------------------------------------------------------------


def check_method(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Check a call of a str method that can grow text; returns the arguments to call with."""
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if not isinstance(owner, str) or name not in _STR_CHECKS:
        return args
    try:
        bound = inspect.signature(getattr(str, name)).bind(owner, *args, **kwargs)
    except TypeError:
        return args  # the call itself will fail with Python's own message
    bound.apply_defaults()
    given = dict(bound.arguments)
    if name == "join":
        items = list(given["iterable"])
        _need_joined(items, owner)
        return (items,)
    _STR_CHECKS[name](owner, given)
    return args


def _check_replace(text: str, given: Mapping[str, Any]) -> None:
    old, new, count = given["old"], given["new"], given["count"]
    if not (isinstance(old, str) and isinstance(new, str) and isinstance(count, int)):
        return
    found = text.count(old) if old else len(text) + 1
    if count >= 0:
        found = min(found, count)
    _need(len(text) + found * max(0, len(new) - len(old)), "this replace")


def _check_expandtabs(text: str, given: Mapping[str, Any]) -> None:
    size = given["tabsize"]
    if isinstance(size, int):
        _need(len(text) + text.count("\t") * max(0, size), "expandtabs")


def _need_joined(items: Sequence[Any], separator: str) -> None:
    total = len(separator) * max(0, len(items) - 1)
    _need(total, "this join")
    for item in items:
        total += text_size(item, "this join")
        _need(total, "this join")


_STR_CHECKS: dict[str, Callable[[str, Mapping[str, Any]], None]] = {
    "center": lambda _, given: _width(given["width"], "center"),
    "ljust": lambda _, given: _width(given["width"], "ljust"),
    "rjust": lambda _, given: _width(given["width"], "rjust"),
    "zfill": lambda _, given: _width(given["width"], "zfill"),
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "join": lambda _, given: None,  # handled in check_method: it consumes the iterable
}


def check_format_spec(spec: str) -> None:
    """str.format: the width and precision in a (resolved) format spec."""
    for digits in re.findall(r"\d+", spec):
        _need(int(digits), f"the format width {digits}")


class GuardedFormatter(string.Formatter):
    """Used by the sandbox for str.format / format_map (see RecipeSandbox.wrap_str_format)."""

    def __init__(self, get_field: Callable[[str, Sequence[Any], Mapping[str, Any]], Any]) -> None:
        super().__init__()
        self._get_field = get_field

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return self._get_field(field_name, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec)
        text_size(value, "this format")
        return super().format_field(value, format_spec)


# --- filters ---------------------------------------------------------------------------------


# Filters that never turn their whole value into text: a long list is fine for | length.
_KEEPS_VALUE = frozenset(
    {
        "abs", "attr", "batch", "count", "d", "default", "dictsort", "first", "float",
        "groupby", "int", "items", "join", "last", "length", "list", "map", "max", "min",
        "reject", "rejectattr", "reverse", "round", "select", "selectattr", "slice", "sort",
        "sum", "unique",
    }
)  # fmt: skip
# Tests that do: `is lower` is str(value).islower().
_TEXT_TESTS = frozenset({"lower", "upper"})


def guard_filters(filters: dict[str, Any], budget: RenderBudget) -> None:
    """Wrap every filter: size checks before it runs, its work charged to the budget."""
    for name, original in list(filters.items()):
        check = _FILTER_CHECKS.get(name)
        guarded = original if check is None else _guarded(original, check)
        per_char, per_item = costs.STEPS_PER_ITEM.get(name, costs.DEFAULT_STEPS)
        filters[name] = _charged(
            guarded,
            name,
            budget,
            sizes_value=name not in _KEEPS_VALUE,
            compares=name in costs.COMPARING_FILTERS,
            per_item=(per_char, per_item),
        )


def guard_tests(tests: dict[str, Any], budget: RenderBudget) -> None:
    """Wrap every test: charged to the budget; `lower` and `upper` check the value's size,
    and comparisons charge every item they compare."""
    for name, original in list(tests.items()):
        compares = name in costs.COMPARING_TESTS
        tests[name] = _charged(
            original, name, budget, sizes_value=name in _TEXT_TESTS, compares=compares
        )


def _charged(
    original: Callable[..., Any],
    name: str,
    budget: RenderBudget,
    *,
    sizes_value: bool,
    compares: bool,
    per_item: tuple[int, int] = (0, 0),
) -> Callable[..., Any]:
    value_at = 1 if hasattr(original, "jinja_pass_arg") else 0
    what = f"| {name}"
    per_char_steps, per_item_steps = per_item

    @_wraps(original)  # keeps Jinja's pass_environment / pass_eval_context marks
    def charged(*args: Any, **kwargs: Any) -> Any:
        steps = 1
        if len(args) > value_at:
            value = args[value_at]
            # Text (most values: `season | slug`) is its length: text_size and input_items
            # find the same without their walk.
            plain = type(value) is str
            if sizes_value and (not plain or len(value) > MAX_TEXT):
                text_size(value, what)
            if compares:
                for compared in args[value_at:]:
                    budget.charge_compared(compared)
            chars, items = (len(value), 0) if plain else costs.input_items(value)
            steps += chars * per_char_steps + items * per_item_steps
        result = original(*args, **kwargs)
        budget.charge_result(result, steps)
        return result

    return charged


def _wraps(original: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """functools.wraps, spelled out: its generic loop (an AttributeError caught for each
    builtin's missing __annotations__) was a quarter of building an environment, which every
    plan, check and delivery does for its ~100 filters and tests."""

    assigned, marks = _wrapper_attributes(original)

    def wrap(wrapper: Callable[..., Any]) -> Callable[..., Any]:
        for name, value in assigned:
            setattr(wrapper, name, value)
        wrapper.__dict__.update(marks)
        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        return wrapper

    return wrap


_ABSENT = object()


@functools.cache
def _wrapper_attributes(
    original: Callable[..., Any],
) -> tuple[tuple[tuple[str, Any], ...], dict[str, Any]]:
    """What functools.wraps copies from `original`: its name, doc... and its __dict__."""
    assigned = tuple(
        (name, value)
        for name in functools.WRAPPER_ASSIGNMENTS
        if (value := getattr(original, name, _ABSENT)) is not _ABSENT
    )
    return assigned, dict(getattr(original, "__dict__", {}))


@functools.cache
def _call_shape(original: Callable[..., Any]) -> tuple[bool, inspect.Signature, int]:
    """(does Jinja pass it a context, its signature, the leading arguments the signature does
    not show): the same for every environment, so worked out once per filter."""
    passes_context = hasattr(original, "jinja_pass_arg")
    signature = inspect.signature(original)
    # Jinja's async variants take the environment but show the signature without it.
    first = next(iter(signature.parameters), "")
    skip = 1 if passes_context and first not in ("environment", "eval_ctx", "context") else 0
    return passes_context, signature, skip


@functools.cache  # the same for every environment; a new one each time grew _wrapper_attributes
def _guarded(original: Callable[..., Any], check: Callable[..., Any]) -> Callable[..., Any]:
    passes_context, signature, skip = _call_shape(original)

    @_wraps(original)  # keeps Jinja's pass_environment / pass_eval_context marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args[skip:], **kwargs)
        except TypeError:
            return original(*args, **kwargs)  # let Jinja report the wrong arguments
        bound.apply_defaults()
        context = args[0] if passes_context else None
        replaced = check(context, bound.arguments)
        if replaced is not None:
            bound.arguments.update(replaced)
            return original(*args[:skip], *bound.args, **bound.kwargs)
        return original(*args, **kwargs)

    return guarded


def _f_center(_: Any, a: Mapping[str, Any]) -> None:
    _width(a["width"], "center")


def _f_indent(_: Any, a: Mapping[str, Any]) -> None:
    text, width = str(a["s"]), a["width"]
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = text.count("\n") + (1 if a["first"] else 0)  # the first line only when asked
    _need(len(text) + lines * step, "indent")


def _f_format(_: Any, a: Mapping[str, Any]) -> None:
    values = a.get("kwargs") or a.get("args") or ()
    check_percent(str(a["value"]), tuple(values) if isinstance(values, tuple) else values)


def _f_replace(_: Any, a: Mapping[str, Any]) -> None:
    count = a["count"]
    given = {"old": a["old"], "new": a["new"], "count": -1 if count is None else count}
    _check_replace(str(a["s"]), given)


def _f_join(context: Any, a: Mapping[str, Any]) -> dict[str, Any]:
    items = list(a["value"])
    shown = items
    if a["attribute"] is not None:
        shown = list(map(make_attrgetter(context.environment, a["attribute"]), items))
    separator = a["d"]
    _need_joined(shown, separator if isinstance(separator, str) else str(separator))
    return {"value": items}


def _f_wordwrap(environment: Any, a: Mapping[str, Any]) -> None:
    text, width = str(a["s"]), a["width"]
    wrap = a["wrapstring"]
    wrap = environment.newline_sequence if wrap is None else str(wrap)
    if isinstance(width, int) and width > 0:
        lines = len(text) // width + text.count("\n") + 1
        _need(len(text) + lines * len(wrap), "wordwrap")


def _f_batch(_: Any, a: Mapping[str, Any]) -> None:
    _list_size(a["linecount"], "batch")


def _f_slice(_: Any, a: Mapping[str, Any]) -> None:
    _list_size(a["slices"], "slice")


def _list_size(value: Any, what: str) -> None:
    if isinstance(value, int) and value > MAX_TEXT:
        raise TooLarge(f"{what} would make a list longer than {MAX_TEXT:,} items")


def _f_tojson(_: Any, a: Mapping[str, Any]) -> None:
    indent = a["indent"]
    size = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    if size > MAX_JSON_INDENT:
        raise TooLarge(f"tojson's indent may be at most {MAX_JSON_INDENT}")


def _f_sum(environment: Any, a: Mapping[str, Any]) -> dict[str, Any] | None:
    start = a["start"]
    if isinstance(start, int | float):
        return None
    items = list(a["iterable"])
    if a["attribute"] is not None:
        items = list(map(make_attrgetter(environment, a["attribute"]), items))
    total = len(start) if isinstance(start, Sequence) else 0
    for item in items:
        total += len(item) if isinstance(item, Sequence) else 0
        _need(total, "this sum")
    return {"iterable": items, "attribute": None}


_FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _f_center,
    "indent": _f_indent,
    "format": _f_format,
    "replace": _f_replace,
    "join": _f_join,
    "wordwrap": _f_wordwrap,
    "batch": _f_batch,
    "slice": _f_slice,
    "tojson": _f_tojson,
    "sum": _f_sum,
}
