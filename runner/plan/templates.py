"""Render recipe strings as sandboxed, strict Jinja templates, each compiled once per recipe.

A recipe may come from anyone on the team, so templates run in Jinja's sandbox (no Python
internals, no changing shared values), with StrictUndefined (a typo is an error, not an empty
string), without the nondeterministic `random` filter (job keys must be stable) and with size
guards (template_limits) on everything that can make text much longer than its inputs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from runner.diagnostics import suggestion_suffix

if TYPE_CHECKING:
    from jinja2 import Template

_CACHE_PROBATION = 2048  # renders before a template whose results never repeat stops caching
_TEMPLATE_FILE = "<template>"
_GLOBALS = frozenset({"range", "dict", "namespace"})


class TemplateProblem(Exception):
    """A template cannot be compiled or rendered; `line` is the line inside the template."""

    def __init__(self, message: str, hint: str | None = None, line: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


def slug(value: object) -> str:
    """'Crème Brûlée / Winter' -> 'creme-brulee-winter': safe in file names and URLs."""
    text = unicodedata.normalize("NFKD", str(value))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def needs_rendering(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def plain_text(text: str) -> str:
    """What Jinja would give for a string with no template syntax (one trailing newline goes)."""
    return text.removesuffix("\n")


@dataclass
class _Compiled:
    template: Template
    names: tuple[str, ...]  # top-level variables the template reads
    cache: dict[tuple[int, ...], tuple[tuple[Any, ...], str | TemplateProblem]] = field(
        default_factory=dict
    )
    hits: int = 0
    caching: bool = True


class TemplateRenderer:
    """Compiles each distinct template once, and reuses results when its inputs repeat."""

    def __init__(self) -> None:
        from jinja2 import TemplateError, UndefinedError
        from jinja2.exceptions import SecurityError

        from runner.plan.template_limits import MAX_RENDERED, TooLarge

        self._env = _make_environment()
        self._compiled: dict[str, _Compiled | TemplateProblem] = {}
        self._errors = (UndefinedError, SecurityError, TemplateError, TooLarge)
        self._max_rendered = MAX_RENDERED
        self._too_large = TooLarge

    def check(self, text: str) -> TemplateProblem | None:
        """The syntax problem in a template, if any (compiling it for later)."""
        compiled = self._compile(text)
        return compiled if isinstance(compiled, TemplateProblem) else None

    def render(self, text: str, context: Mapping[str, Any]) -> str:
        """Render `text` with `context`; raises TemplateProblem."""
        if not needs_rendering(text):
            return plain_text(text)
        compiled = self._compile(text)
        if isinstance(compiled, TemplateProblem):
            raise compiled
        if not compiled.caching:
            return self._run(compiled.template, context)
        # Context values are shared objects (axis rows, include values): identity is a cheap
        # key, and the cache entry holds them so that their ids stay unique.
        inputs = tuple(context.get(name) for name in compiled.names)
        key = tuple(map(id, inputs))
        entry = compiled.cache.get(key)
        if entry is None:
            try:
                result: str | TemplateProblem = self._run(compiled.template, context)
            except TemplateProblem as problem:
                result = problem
            compiled.cache[key] = (inputs, result)
            if len(compiled.cache) >= _CACHE_PROBATION and compiled.hits * 4 < len(compiled.cache):
                compiled.caching = False
                compiled.cache.clear()
        else:
            compiled.hits += 1
            result = entry[1]
        if isinstance(result, TemplateProblem):
            raise result
        return result

    def _compile(self, text: str) -> _Compiled | TemplateProblem:
        found = self._compiled.get(text)
        if found is not None:
            return found
        from jinja2 import TemplateSyntaxError, meta

        try:
            ast = self._env.parse(text)
            names = tuple(sorted(meta.find_undeclared_variables(ast)))
            compiled: _Compiled | TemplateProblem = _Compiled(self._env.from_string(ast), names)
        except TemplateSyntaxError as exc:
            compiled = _syntax_problem(exc, list(self._env.filters), list(self._env.tests))
        except (RecursionError, MemoryError):
            compiled = TemplateProblem(
                "this template is nested too deeply to read", hint="split it into simpler parts"
            )
        self._compiled[text] = compiled
        return compiled

    @property
    def globals(self) -> dict[str, Any]:
        """Jinja's globals (range, dict, namespace): put them in every render context."""
        return dict(self._env.globals)

    def _run(self, template: Template, context: Mapping[str, Any]) -> str:
        undefined_error, security_error, template_error, too_large = self._errors
        env = self._env
        try:
            try:
                # Template.render, minus its copy of the context and globals for every call
                # (that copy was most of the time of planning 100k jobs).
                ctx = env.context_class(env, context, template.name, template.blocks)
                return self._joined(template.root_render_func(ctx))
            except RecursionError:
                raise TemplateProblem(
                    "this template calls itself without end (a macro that calls itself?)",
                    hint="make sure every macro that calls itself has a condition that stops it",
                ) from None
            except MemoryError:
                raise TemplateProblem(
                    "this template needs more memory than the computer has",
                    hint="make the template build shorter text",
                ) from None
            except Exception:
                env.handle_exception()  # re-raises with template line numbers in the traceback
                raise  # not reached
        except undefined_error as exc:
            raise _undefined_problem(exc, context) from None
        except security_error as exc:
            raise TemplateProblem(
                "this template tries to reach Python internals, which recipes may not do",
                hint="use only the recipe's variables, with filters such as | slug or | upper",
                line=_template_line(exc.__traceback__),
            ) from None
        except too_large as exc:
            raise TemplateProblem(
                str(exc),
                hint="a template makes a file name, a path or a prompt: keep what it builds short",
                line=_template_line(exc.__traceback__),
            ) from None
        except template_error as exc:
            message = f"the template failed: {exc.message or exc}"
            raise TemplateProblem(message, line=_template_line(exc.__traceback__)) from None
        except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
            message = f"the template failed: {exc}"
            raise TemplateProblem(message, line=_template_line(exc.__traceback__)) from None

    def _joined(self, parts: Iterator[str]) -> str:
        """The rendered text, stopped as soon as it grows past MAX_RENDERED characters."""
        texts = []
        total = 0
        for part in parts:
            total += len(part)
            if total > self._max_rendered:
                limit = f"{self._max_rendered:,}"
                raise self._too_large(f"the template makes text longer than {limit} characters")
            texts.append(part)
        return "".join(texts)


def _template_line(tb: TracebackType | None) -> int:
    """The template line Jinja's rewritten traceback points at (1 when there is none)."""
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _syntax_problem(exc: Any, filters: list[str], tests: list[str]) -> TemplateProblem:
    message = str(exc.message or "invalid template")
    hint: str | None = "templates look like {{ product.name }}; check that every {{ has its }}"
    unknown = re.match(r"No (filter|test) named '([^']+)'", message)
    if unknown:
        kind, name = unknown.groups()
        choices = filters if kind == "filter" else tests
        if kind == "filter" and name == "random":
            message = "the random filter is not allowed: it would change the job on every plan"
        else:
            message = f"there is no {kind} named {name!r}{suggestion_suffix(name, choices)}"
        hint = None
    return TemplateProblem(f"template syntax error: {message}", hint=hint, line=exc.lineno or 1)


def _undefined_problem(exc: Exception, context: Mapping[str, Any]) -> TemplateProblem:
    line = _template_line(exc.__traceback__)
    info = getattr(exc, "backdrop_missing", None)
    if info is None:
        return TemplateProblem(str(exc), line=line)
    obj, name = info
    from jinja2.utils import missing

    visible = [key for key in context if key not in _GLOBALS]
    if obj is missing:
        message = f"{name!r} is undefined{suggestion_suffix(str(name), visible)}"
        hint = f"the variables here are: {', '.join(visible)}"
        return TemplateProblem(message, hint=hint, line=line)
    owner = next((key for key, value in context.items() if value is obj), None)
    where = f"{owner!r}" if owner else "this value"
    if isinstance(obj, Mapping):
        fields = [str(key) for key in obj]
        message = f"{where} has no field {name!r}{suggestion_suffix(str(name), fields)}"
        return TemplateProblem(message, hint=f"its fields are: {', '.join(fields)}", line=line)
    return TemplateProblem(f"{where} ({obj!r}) has no field {name!r}", line=line)


def _make_environment() -> Any:
    """A sandboxed, strict environment with the `slug` filter (jinja2 imported lazily)."""
    from jinja2 import StrictUndefined, UndefinedError
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
    from jinja2.utils import missing

    from runner.plan import template_limits as limits

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
        intercepted_binops = frozenset({"*", "**", "+", "%"})
        code_generator_class = limits.GuardedCodeGenerator

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            limits.check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            args = limits.check_method(__obj, args, kwargs)
            return super().call(__context, __obj, *args, **kwargs)

        def concat_guarded(self, parts: Any) -> str:
            return limits.concat(parts)

        def wrap_str_format(self, value: Any) -> Any:
            """Jinja's sandboxed str.format / format_map, with widths checked."""
            if super().wrap_str_format(value) is None:
                return None
            text: str = value.__self__
            formatter = limits.GuardedFormatter(SandboxedFormatter(self).get_field)
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

    env = RecipeSandbox(undefined=RecipeUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["slug"] = slug
    del env.filters["random"]
    limits.guard_filters(env.filters)
    for name in list(env.globals):
        if name not in _GLOBALS:
            del env.globals[name]
    return env


def _recording(obj: Any, name: str | None) -> Any:
    from jinja2 import UndefinedError

    def build(message: str | None = None) -> UndefinedError:
        error = UndefinedError(message)
        error.backdrop_missing = (obj, name)  # type: ignore[attr-defined]
        return error

    return build
