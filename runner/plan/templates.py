"""Render recipe strings as templates, each compiled once per recipe (and its code once per
process).

The environment (sandbox, strictness, filters, size guards) comes from
runner.templating.environment, the one builder every pass shares.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import CodeType, TracebackType
from typing import TYPE_CHECKING, Any

from runner.diagnostics import suggestion_suffix
from runner.plan.job_context import NameMessages
from runner.templating.environment import TEMPLATE_GLOBALS, template_environment
from runner.templating.parse import (
    TemplateProblem,
    check_text,
    parse_template,
    refuse_surrogates,
    syntax_problem,
)
from runner.templating.slug import FilterError, slug

if TYPE_CHECKING:
    from jinja2 import Template

HEAVY_RENDER = 100_000  # units: no ordinary render comes near; heavier ones are counted
MAX_HEAVY_TOTAL = 25_000_000  # units: all the heavy renders of one plan (5 whole budgets)
# Steps (budget.py: loop iterations, calls, filters, items walked) of all the renders of one
# plan, failed ones too: about 1.6 s at 0.16 µs a step. Ordinary templates take 5 to 50 steps
# a job: bench_plan.py's 99,000 jobs take 2.6 million; 1,000 steps a job fit in 10,000 jobs.
MAX_PLAN_STEPS = 10_000_000
_CACHE_PROBATION = 2048  # renders before a template whose results never repeat stops caching
__all__ = ["TemplateProblem", "TemplateRenderer", "needs_rendering", "plain_text", "slug"]


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
    renders: int = 0
    steps: int = 0  # of all its renders, for the message when the plan's total runs out


class TemplateRenderer:
    """Compiles each distinct template once, and reuses results when its inputs repeat."""

    def __init__(self) -> None:
        from jinja2 import TemplateError, UndefinedError
        from jinja2.exceptions import SecurityError

        from runner.templating.sandbox_limits import MAX_RENDERED, TooLarge, TooMuchWork

        self._thread = threading.get_ident()
        self._env = template_environment()  # this thread's: renders run one at a time
        self._compiled: dict[str, _Compiled | TemplateProblem] = {}
        self._errors = (UndefinedError, SecurityError, TemplateError, TooLarge)
        self._max_rendered = MAX_RENDERED
        self._too_large = TooLarge
        self._too_much_work = TooMuchWork
        self._budget: Any = getattr(self._env, "budget")  # noqa: B009 - set by the builder
        self._heavy_total = 0
        self._plan_steps = 0
        self._names = NameMessages(TEMPLATE_GLOBALS)

    def _follow_thread(self) -> None:
        """Used from another thread than the last: take that thread's environment (and its
        budget), so that a render here and one in the thread this renderer came from never
        reset each other's budget. Templates compiled for the other environment are dropped."""
        self._thread = threading.get_ident()
        self._env = template_environment()
        self._budget = getattr(self._env, "budget")  # noqa: B009 - set by the builder
        self._compiled.clear()

    def check(self, text: str) -> TemplateProblem | None:
        """The syntax problem in a template, if any (compiling it for later)."""
        if threading.get_ident() != self._thread:
            self._follow_thread()
        if not needs_rendering(text):
            # Plain text (`size: 1024x1024`) is never compiled: render() gives it as it is. A
            # lone surrogate is all parse_template could find wrong in it.
            try:
                refuse_surrogates(text)
            except TemplateProblem as problem:
                return problem
            return None
        compiled = self._compile(text)
        return compiled if isinstance(compiled, TemplateProblem) else None

    def render(self, text: str, context: Mapping[str, Any]) -> str:
        """Render `text` with `context`; raises TemplateProblem."""
        if threading.get_ident() != self._thread:
            self._follow_thread()
        compiled = self._compiled.get(text)  # holds templates only: plain text is never compiled
        if compiled is None:
            if not needs_rendering(text):
                return check_text(plain_text(text))
            compiled = self._compile(text)
        if isinstance(compiled, TemplateProblem):
            raise compiled
        if not compiled.caching:
            return self._run_once(text, compiled, context)
        # Context values are shared objects (axis rows, include values): identity is a cheap
        # key, and the cache entry holds them so that their ids stay unique.
        inputs = tuple(map(context.get, compiled.names))
        key = tuple(map(id, inputs))
        entry = compiled.cache.get(key)
        if entry is None:
            try:
                result: str | TemplateProblem = self._run_once(text, compiled, context)
            except TemplateProblem as problem:
                result = _detached(problem)
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
        from jinja2 import TemplateSyntaxError

        compiled: _Compiled | TemplateProblem
        try:
            code, names = _shared_code(self._env, text)
            # What Environment.from_string does with the code it compiles.
            env = self._env
            template = env.template_class.from_code(env, code, env.make_globals(None), None)
            compiled = _Compiled(template, names)
        except TemplateProblem as problem:
            compiled = problem
        except TemplateSyntaxError as exc:
            compiled = syntax_problem(exc, self._env.filters, self._env.tests, text)
        except SyntaxError as exc:  # what Python refuses in the code Jinja made from it
            compiled = TemplateProblem(f"template syntax error: {exc.msg}")
        except (RecursionError, MemoryError):
            compiled = TemplateProblem(
                "this template is nested too deeply to read", hint="split it into simpler parts"
            )
        self._compiled[text] = compiled
        return compiled

    @property
    def plan_steps(self) -> int:
        """Steps all renders so far took together (see MAX_PLAN_STEPS)."""
        return self._plan_steps

    @property
    def globals(self) -> dict[str, Any]:
        """Jinja's globals (range, dict, namespace): put them in every render context."""
        return dict(self._env.globals)

    def _run_once(self, text: str, compiled: _Compiled, context: Mapping[str, Any]) -> str:
        refused = self._refused(compiled)
        if refused is not None:
            self._compiled[text] = refused
            raise refused
        try:
            return self._run(compiled.template, context)
        except TemplateProblem as problem:
            if problem.skip_later:  # a template that used a whole budget once is not retried
                self._compiled[text] = _detached(problem)
            raise
        finally:
            # Each render has its own budget; these bound their sum, whatever the number of
            # templates (an include entry's fields are templates too) or of jobs, failed
            # renders too. Counted in steps, not seconds: a busy machine must not fail an
            # ordinary plan.
            used, steps = self._budget.used(), self._budget.steps
            compiled.renders += 1
            compiled.steps += steps
            self._plan_steps += steps
            if used > HEAVY_RENDER:
                self._heavy_total += used

    def _refused(self, compiled: _Compiled) -> TemplateProblem | None:
        """Why no more renders are tried: the plan's templates used the work a plan may do.

        The plan fails already (or will: its heavy templates are reported); rendering more
        could only take longer, so every later render is refused at once.
        """
        if self._heavy_total > MAX_HEAVY_TOTAL:
            return TemplateProblem(
                "not rendered: the recipe's heavy templates (reported here too) already used the "
                f"work one plan may do ({MAX_HEAVY_TOTAL:,} steps)",
                hint="make the heavy templates simpler; this one was not tried",
                skip_later=True,
            )
        if self._plan_steps > MAX_PLAN_STEPS:
            each = compiled.steps // compiled.renders if compiled.renders else 0
            return TemplateProblem(
                "not rendered: the recipe's templates together used the work one plan may do "
                f"({MAX_PLAN_STEPS:,} steps: loop iterations, calls, filters); this one took "
                f"about {each:,} steps per job",
                hint="make the templates that take the most steps per job simpler (loops over "
                "long ranges cost the most), or plan fewer jobs",
                skip_later=True,
            )
        return None

    def _run(self, template: Template, context: Mapping[str, Any]) -> str:
        undefined_error, security_error, template_error, too_large = self._errors
        env = self._env
        try:
            try:
                # Template.render, minus its copy of the context and globals for every call
                # (that copy was most of the time of planning 100k jobs). Context only reads
                # `parent`, so a read-only mapping is enough.
                parent: Any = context
                ctx = env.context_class(env, parent, template.name, template.blocks)
                return check_text(self._joined(template.root_render_func(ctx)))
            except RecursionError:
                self._budget.spend(self._budget.left)  # a whole budget: nested too deep
                raise TemplateProblem(
                    "this template calls itself without end (a macro that calls itself?)",
                    hint="make sure every macro that calls itself has a condition that stops "
                    "it; macros may call themselves about 200 deep. This template was not tried "
                    "again for the other jobs",
                    skip_later=True,
                ) from None
            except MemoryError:
                raise TemplateProblem(
                    "this template needs more memory than the computer has",
                    hint="make the template build shorter text",
                ) from None
        except undefined_error as exc:
            raise _undefined_problem(exc, context, self._names) from None
        except security_error as exc:
            raise TemplateProblem(
                "this template tries to reach Python internals, which recipes may not do",
                hint="use only the recipe's variables, with filters such as | slug or | upper",
                line=_template_line(exc.__traceback__),
            ) from None
        except self._too_much_work as exc:
            raise TemplateProblem(
                str(exc),
                hint="loops over long ranges and macros that call themselves cost the most; "
                "this template was not tried again for the other jobs",
                line=_template_line(exc.__traceback__),
                skip_later=True,
            ) from None
        except too_large as exc:
            self._budget.spend(exc.work)  # a value walked to find it too large
            raise TemplateProblem(
                str(exc),
                hint="a template makes a file name, a path or a prompt: keep what it builds short",
                line=_template_line(exc.__traceback__),
            ) from None
        except template_error as exc:
            message = f"the template failed: {exc.message or exc}"
            raise TemplateProblem(message, line=_template_line(exc.__traceback__)) from None
        except TemplateProblem:
            raise
        except Exception as exc:  # anything else a template's own expressions raise
            raise _failure(exc) from None

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


# The code each template compiles to, shared by the renderers of one process: every plan of
# a recipe (status, `plan --diff`'s two, each validate) compiled the same templates again, ~1 ms
# each. Every environment comes from make_template_environment and compiles a text to the same
# code (it reaches the environment's filters and guards only when it runs). Bounded: generated
# or fuzzed recipes may hold thousands of templates.
_SHARED_CODE: dict[str, tuple[CodeType, tuple[str, ...]]] = {}
_SHARED_ENTRIES = 512
_SHARED_MAX_TEXT = 2_000  # characters: longer templates are compiled by each renderer


def _shared_code(env: Any, text: str) -> tuple[CodeType, tuple[str, ...]]:
    """The compiled code of `text` and the names it reads; raises what compiling raises."""
    found = _SHARED_CODE.get(text)
    if found is not None:
        return found
    parsed = parse_template(env, text)
    found = (env.compile(parsed.ast), parsed.names)
    if len(text) <= _SHARED_MAX_TEXT:
        if len(_SHARED_CODE) >= _SHARED_ENTRIES:
            _SHARED_CODE.clear()
        _SHARED_CODE[text] = found
    return found


def _detached(problem: TemplateProblem) -> TemplateProblem:
    """A problem to keep: without the traceback and the exception it replaced, whose frames
    (a thousand for a RecursionError) would otherwise stay in memory with it."""
    problem.__traceback__ = None
    problem.__context__ = None
    return problem


def _failure(exc: Exception) -> TemplateProblem:
    """A template's expression failed: name the filter when one did (`1|wordwrap`)."""
    line = _template_line(exc.__traceback__)
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, FilterError):
        return TemplateProblem(detail, hint=exc.hint, line=line)
    found = _failed_builtin(exc.__traceback__)
    if found is None:
        return TemplateProblem(f"the template failed: {detail}", line=line)
    kind, name = found
    where = f"| {name}" if kind == "filter" else f"is {name}"
    return TemplateProblem(
        f"the {kind} '{name}' failed: {detail}",
        hint=f"check the value before {where} and the arguments given to it",
        line=line,
    )


_BUILTIN_PREFIXES = {"jinja2.filters": ("filter", "do_"), "jinja2.tests": ("test", "test_")}


def _failed_builtin(tb: TracebackType | None) -> tuple[str, str] | None:
    """The innermost Jinja filter or test in a traceback (do_wordwrap -> filter 'wordwrap')."""
    found = None
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__"))
        kind, prefix = _BUILTIN_PREFIXES.get(module, ("", ""))
        name = tb.tb_frame.f_code.co_name.removeprefix("sync_")
        if kind and name.startswith(prefix):
            found = (kind, name.removeprefix(prefix))
        tb = tb.tb_next
    return found


def _template_line(tb: TracebackType | None) -> int:
    """The template line of the innermost template frame in a traceback (1 when none).

    Read from Jinja's line map of the compiled code, as its own traceback rewrite does: that
    rewrite (env.handle_exception) compiles a fake frame and copies the whole context for
    every failed render, 60,000 `vars` each time.
    """
    line = 1
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def _undefined_problem(
    exc: Exception, context: Mapping[str, Any], names: NameMessages
) -> TemplateProblem:
    line = _template_line(exc.__traceback__)
    info = getattr(exc, "backdrop_missing", None)
    if info is None:
        return TemplateProblem(str(exc), line=line)
    obj, name = info
    from jinja2.utils import missing

    if obj is missing:
        suggestion, hint = names.undefined(str(name), context)
        return TemplateProblem(f"{name!r} is undefined{suggestion}", hint=hint, line=line)
    owner = names.owner(obj, context)
    where = f"{owner!r}" if owner else "this value"
    if isinstance(obj, Mapping):
        fields = [str(key) for key in obj]
        message = f"{where} has no field {name!r}{suggestion_suffix(str(name), fields)}"
        return TemplateProblem(message, hint=f"its fields are: {', '.join(fields)}", line=line)
    return TemplateProblem(f"{where} ({obj!r}) has no field {name!r}", line=line)
