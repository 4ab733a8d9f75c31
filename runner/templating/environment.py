"""Build the template environment: the ONE place that decides what a recipe template may use.

Every pass that reads a template uses make_template_environment(): the static check beside
schema errors (recipe/template_names.py), rendering (plan/templates.py) and, later, export
file names. Two builders drift apart: a filter added to one and missing from the other turns a
typo elsewhere in the recipe into an internal error ("No filter named 'slug'").

The environment is sandboxed and immutable (no Python internals, no changing a shared row for
later jobs), strict (a typo is an error, not an empty string), has no `random` filter (job keys
must be stable) and guards every operation that can build huge text (templating/sandbox_limits.py).
jinja2 is imported lazily: startup stays fast for commands that never read a template.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.templating.slug import slug

if TYPE_CHECKING:
    from jinja2 import Environment, Undefined

# Jinja's globals a recipe may call; every other global (cycler, joiner, lipsum) is removed.
TEMPLATE_GLOBALS = frozenset({"range", "dict", "namespace"})
# Names Jinja defines inside templates themselves (loops, macros).
TEMPLATE_LOCALS = frozenset({"loop", "self", "varargs", "kwargs", "caller"})


# Filters Backdrop adds to Jinja's own: name -> function. Documented in README's recipe reference.
RECIPE_FILTERS = {"slug": slug}


def make_template_environment() -> Environment:
    """The sandboxed, strict, size-guarded environment with Backdrop's filters and globals."""
    from jinja2 import pass_context

    from runner.templating import sandbox_limits
    from runner.templating.render_budget import RenderBudget, text_size

    sandbox_class, undefined_class = _classes()
    budget = RenderBudget()
    # Not optimized: Jinja's optimizer evaluates constant expressions while compiling, where an
    # error such as `(-1)[999] ~ 'x'` escapes every handler; at render time it is a diagnostic.
    env = sandbox_class(
        undefined=undefined_class, autoescape=False, keep_trailing_newline=False, optimized=False
    )
    env.budget = budget  # type: ignore[attr-defined]  # read by its hooks and by TemplateRenderer
    env.filters.update(RECIPE_FILTERS)
    del env.filters["random"]
    sandbox_limits.guard_filters(env.filters, budget)
    sandbox_limits.guard_tests(env.tests, budget)

    # Takes the context so that Jinja cannot call it while compiling (on constants).
    @pass_context
    def finalize(_: Any, value: Any) -> Any:
        """Every `{{ value }}`: measured before it becomes text."""
        # Charged too: `{% set x %}` and macros collect what they print outside MAX_RENDERED.
        size = len(value) if type(value) is str else text_size(value, "printing this value")
        budget.charge(1 + size)
        return value

    env.finalize = finalize
    for name in list(env.globals):
        if name not in TEMPLATE_GLOBALS:
            del env.globals[name]
    return env


_SHARED = threading.local()


def template_environment() -> Environment:
    """This thread's environment, made once (building one wraps ~100 filters and tests).

    Renders in one thread run one at a time, and each starts with a full budget (a render's
    context resets it): sharing it is the same as a new one per plan. Nothing may change it.
    """
    env: Environment | None = getattr(_SHARED, "env", None)
    if env is None:
        env = _SHARED.env = make_template_environment()
    return env


@functools.cache
def _classes() -> tuple[type[Environment], type[Undefined]]:
    """The environment's and undefined's classes, made once per process (jinja2 is imported
    here, lazily); each environment holds its own RenderBudget as `budget`."""
    from jinja2 import StrictUndefined, UndefinedError
    from jinja2.runtime import Context, LoopContext
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
    from jinja2.utils import missing

    from runner.templating import costs, sandbox_limits

    class RecipeContext(Context):
        """A render's context: creating one starts the render, with a full budget."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.environment.budget.reset()  # type: ignore[attr-defined]

        def derived(self, locals: dict[str, Any] | None = None) -> Context:
            # The same render goes on (a scoped block, in a loop too): it keeps its budget.
            if type(self.parent) is not dict:
                # A job's layered context (plan/job_context.py), which Jinja copies for each
                # derived context a key at a time in Python: made a dict once, it is copied in C.
                self.parent = dict(self.parent)
            budget = self.environment.budget  # type: ignore[attr-defined]
            state = budget.state()
            child = super().derived(locals)
            budget.restore(state)
            budget.charge(1, len(self.parent) + len(self.vars))  # it copies them: 60,000 vars?
            return child

    class RecipeUndefined(StrictUndefined):
        __slots__ = ()

        def __init__(
            self,
            hint: str | None = None,
            obj: Any = missing,
            name: str | None = None,
            exc: type[Exception] = UndefinedError,
        ) -> None:
            super().__init__(hint, obj, name, exc)  # type: ignore[arg-type]
            if exc is UndefinedError and hint is None:
                self._undefined_exception = _recording(obj, name)

    # Immutable: a template must not change a shared row (`product.pop('sku')`) for later jobs.
    class RecipeSandbox(ImmutableSandboxedEnvironment):
        # Intercepting these also stops Jinja from folding constants such as 'a' * 10**9
        # while it compiles, which the static pass would otherwise do unguarded.
        intercepted_binops = frozenset({"*", "**", "+", "%"})
        code_generator_class = sandbox_limits.GuardedCodeGenerator
        context_class = RecipeContext
        budget: Any  # this environment's RenderBudget, set by make_template_environment

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            sandbox_limits.check_binop(operator, left, right)
            result = super().call_binop(context, operator, left, right)
            self.budget.charge_result(result)
            return result

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            budget = __self.budget
            args = sandbox_limits.check_method(__obj, args, kwargs)
            budget.charge(1)  # macros calling themselves twice each: 2**n calls
            if isinstance(__obj, LoopContext) and args:  # `loop(children)` in a recursive for
                args = (budget.loop(args[0]), *args[1:])
            for compared in costs.compared_by_call(__obj, args, kwargs):
                budget.charge_compared(compared)  # list.count(x), loop.changed(x), d.get(t)
            result = super().call(__context, __obj, *args, **kwargs)
            budget.charge_result(result)
            return result

        def compared(self, value: Any) -> Any:
            """Each side of `==`, `<`, `in`... and each dict literal key (see limits)."""
            if not isinstance(value, str | int | float | bool | None):
                self.budget.charge_compared(value)
            return value

        def getitem(self, obj: Any, argument: Any) -> Any:
            if isinstance(argument, tuple | frozenset):
                self.budget.charge_compared(argument)  # hashed to look it up
            return super().getitem(obj, argument)

        def guard_loop(self, iterable: Any) -> Any:
            """What every `{% for %}` iterates (see sandbox_limits.GuardedCodeGenerator)."""
            return self.budget.loop(iterable)

        def concat_guarded(self, parts: Any) -> str:
            result = sandbox_limits.concat(parts)
            self.budget.charge_result(result)
            return result

        def wrap_str_format(self, value: Any) -> Any:
            """Jinja's sandboxed str.format / format_map, with widths checked."""
            if super().wrap_str_format(value) is None:
                return None
            text: str = value.__self__
            formatter = sandbox_limits.GuardedFormatter(SandboxedFormatter(self).get_field)
            is_map = value.__name__ == "format_map"

            def guarded(*args: Any, **kwargs: Any) -> str:
                if is_map:
                    if kwargs or len(args) != 1:
                        raise TypeError("format_map() takes exactly one argument")
                    return str(formatter.vformat(text, (), args[0]))
                return str(formatter.vformat(text, args, kwargs))

            return guarded

        def getattr(self, obj: Any, attribute: str) -> Any:
            # `row.items` must be the CSV column "items", not dict.items.
            if (type(obj) is dict or isinstance(obj, Mapping)) and attribute in obj:
                return obj[attribute]
            return super().getattr(obj, attribute)

    return RecipeSandbox, RecipeUndefined


def undeclared_names(env: Environment, ast: Any) -> set[str]:
    """The variables a parsed template reads from its context (names the context must hold)."""
    from jinja2.meta import TrackingCodeGenerator

    # jinja2.meta.find_undeclared_variables, minus its optimizer (see make_template_environment).
    tracker = TrackingCodeGenerator(env)
    tracker.optimizer = None
    tracker.visit(ast)
    return tracker.undeclared_identifiers


def _recording(obj: Any, name: str | None) -> Any:
    """An UndefinedError factory that remembers what was missing, for a did-you-mean."""
    from jinja2 import UndefinedError

    def build(message: str | None = None) -> UndefinedError:
        error = UndefinedError(message)
        error.backdrop_missing = (obj, name)  # type: ignore[attr-defined]
        return error

    return build
