"""Turn matrix combinations into Jobs: render, resolve the promptObject, check limits, key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.api import limits
from runner.apikey import MASK, searchable_key
from runner.diagnostics import Diagnostic, Span, suggestion_suffix
from runner.pastedtext import ODD_SPACES, TYPOGRAPHIC_QUOTES, char_name, odd_space_in
from runner.plan.axes import AxisValues
from runner.plan.images import ImageProblem, ImageResolver
from runner.plan.job_context import JobContext
from runner.plan.matrix import Combination
from runner.plan.origins import ValueOrigins
from runner.plan.outputs import EscapeCheck, OutputProblem, output_paths, same_file_key
from runner.plan.plan_model import ImageSource, Job, PromptObject
from runner.plan.problems import ProblemLog, template_span
from runner.plan.secrets import rendered_secret
from runner.plan.templates import TemplateProblem, TemplateRenderer, needs_rendering
from runner.printable import clipped_repr
from runner.recipe.model import NodePath, Recipe

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_ODD_SPACE = re.compile(f"[{''.join(ODD_SPACES)}]")  # searched in every job's output paths
_INTEGER_RANGES = {"n": limits.N_RANGE, "output_compression": limits.COMPRESSION_RANGE}
_MAX_FIELD_DIGITS = 18  # far past every integer field's range, far below int()'s limit
_CHOICES: Mapping[str, Sequence[str]] = {
    "size": limits.SIZES,
    "quality": limits.QUALITIES,
    "output_format": limits.OUTPUT_FORMATS,
}
_SECRET_HINT = (
    "an API key must never reach a prompt, a file name or a report; remove the template or the "
    "values that build it (they may be split across CSV cells or template pieces)"
)
PROMPT_NODE: NodePath = ("prompt",)
IMAGE_NODE: NodePath = ("image",)
OUTPUT_NODE: NodePath = ("output",)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _more(others: int) -> str:
    return f" (and {others:,} more value{'s' if others > 1 else ''} like it)" if others else ""


def job_key(image: ImageSource, prompt_object: PromptObject) -> str:
    """sha256 of a canonical JSON of what the API is asked: the same on every machine."""
    return hashlib.sha256(_canonical_request(image, prompt_object).encode("utf-8")).hexdigest()


def _canonical_payload(image: ImageSource, prompt_object: PromptObject) -> str:
    payload = {
        "type": limits.FEATURE_TYPE,
        "model": limits.MODEL,
        "image": image.identity,
        "prompt_object": prompt_object.to_json(),
    }
    return _CANONICAL.encode(payload)


# What comes before and after the prompt in the canonical JSON, by the other fields: jobs
# share them (a few images, sizes, qualities), and encoding the whole request was a tenth of
# planning. Bounded: each distinct image adds one, and long texts (a URL of 100,000
# characters) are not kept.
_AROUND_PROMPT: dict[tuple[str, int, int, str, str, str], tuple[str, ...]] = {}
_AROUND_ENTRIES = 4096
_AROUND_MAX_TEXT = 4000
_MARK = "\x00prompt\x00"
_MARK_JSON = _CANONICAL.encode(_MARK)


def _canonical_request(image: ImageSource, prompt_object: PromptObject) -> str:
    """_canonical_payload's text, made of the prompt's encoding and the text around it."""
    po = prompt_object
    # Only str and int fields are remembered: equal values of those types encode alike
    # (0.0 == -0.0 and 1 == True do not).
    if not (
        type(po.prompt) is str
        and type(po.n) is int
        and type(po.output_compression) is int
        and type(po.output_format) is str
        and type(po.quality) is str
        and type(po.size) is str
    ):
        return _canonical_payload(image, po)
    rest = (image.identity, po.n, po.output_compression, po.output_format, po.quality, po.size)
    around = _AROUND_PROMPT.get(rest)
    if around is None:
        marked = _canonical_payload(image, dataclasses.replace(po, prompt=_MARK))
        # The mark's encoding found once is the prompt's place (no other field holds it);
        # () when it is not: such a request is encoded whole.
        around = ()
        if marked.count(_MARK_JSON) == 1:
            before, _, after = marked.partition(_MARK_JSON)
            around = (before, after)
        if len(marked) <= _AROUND_MAX_TEXT:
            if len(_AROUND_PROMPT) >= _AROUND_ENTRIES:
                _AROUND_PROMPT.clear()
            _AROUND_PROMPT[rest] = around
    if not around:
        return _canonical_payload(image, po)
    return around[0] + _CANONICAL.encode(po.prompt) + around[1]


def label_value(value: Any) -> str:
    """How a matrix value shows in a job label: a mapping by its first plain value."""
    if isinstance(value, Mapping):
        for item in value.values():
            if isinstance(item, str | int | float | bool):
                return str(item)
        return "{...}"
    return str(value)


class _Labels:
    """'product=MUG-01 season=winter market=fr-FR': the job's axis values, for people;
    each shared axis value's text is remembered (labels cost a lot at 100k jobs)."""

    def __init__(self, axis_names: Sequence[str]) -> None:
        self.axis_names = axis_names
        self._texts: dict[int, tuple[Any, str]] = {}  # id -> (value kept alive, text)

    def __call__(self, combo: Combination) -> str:
        values = combo.vars
        names = [name for name in self.axis_names if name in values] or list(values)
        parts = []
        for name in names:
            value = values[name]
            seen = self._texts.get(id(value))
            if seen is None:
                seen = self._texts[id(value)] = (value, label_value(value))
            parts.append(f"{name}={seen[1]}")
        return " ".join(parts)


def _hidden(span: Span | None) -> Span | None:
    """The place, without the line: it may hold the key's pieces."""
    if span is None:
        return None
    text = " " * (span.col - 1) + MASK
    return Span(span.file, span.line, span.col, span.col + len(MASK), text)


class _JobFailed(Exception):
    """This job has a problem (already logged); skip what depends on it."""


class JobBuilder:
    """Builds each job of one recipe, logging every problem and reusing work across jobs."""

    def __init__(
        self,
        recipe: Recipe,
        axes: Sequence[AxisValues],
        output_dir: Path,
        problems: ProblemLog,
        roots: tuple[Path, ...] | None = None,
    ) -> None:
        """`roots`: the folders images may come from (default: the recipe's project)."""
        self.recipe = recipe
        self.problems = problems
        self.templates = TemplateRenderer()
        self.api_key = searchable_key()  # read once: rendered values are scanned for it
        self.images = ImageResolver(recipe.base_dir, roots)
        self.escapes = EscapeCheck(output_dir)
        self.axis_names = [axis.name for axis in axes]
        self.labels = _Labels(self.axis_names)
        self.checked: dict[tuple[str, Any], str | None] = {}  # (field, value) -> API-limit problem
        self.static: dict[str, tuple[Any, NodePath]] = {}  # defaults that need no rendering
        self.axis_nodes = {axis.name: axis.node for axis in axes}
        self.origins = ValueOrigins(recipe, axes)
        # Values of data files in typographic quotes that made output paths, by their place.
        self.quoted_values: dict[tuple[str, int, int], tuple[str, Span]] = {}
        # Values holding a space that only looks like one (U+00A0) that made output paths.
        self.spaced_values: dict[tuple[str, int, int], tuple[str, Span]] = {}
        self.recipe_info = {"name": recipe.name}
        self.base_context = {**self.templates.globals, **recipe.vars}
        # same_file_key(path) -> the first job writing it, and its path as written.
        self.outputs_seen: dict[str, tuple[int, str, str]] = {}
        self.static_fields = self._static_fields()

    def _static_fields(self) -> tuple[dict[str, Any], dict[str, NodePath]] | None:
        """Every promptObject field but the prompt, and where it comes from, when each is a
        default that needs no rendering and is within the API's limits: what _field and
        _check find for every job whose matrix values set none. None when a field needs
        work per job (a template, text for a number, a value the API refuses)."""
        fields: dict[str, Any] = {}
        origins: dict[str, NodePath] = {}
        for name in limits.PROMPT_FIELDS:
            node: NodePath = ("defaults",)
            value = limits.DEFAULT_PROMPT_OBJECT[name]
            if name in self.recipe.defaults:
                value, node = self.recipe.defaults[name], ("defaults", name)
                if isinstance(value, str) and (
                    needs_rendering(value) or name in limits.INTEGER_FIELDS
                ):
                    return None
            if self._check(name, value) is not None:
                return None
            fields[name], origins[name] = value, node
        return fields, origins

    def check_templates(self) -> None:
        """Report syntax errors once, before any job is rendered."""
        recipe = self.recipe
        sites: list[tuple[NodePath, Any]] = [
            (IMAGE_NODE, recipe.image),
            (PROMPT_NODE, recipe.prompt),
            (OUTPUT_NODE, recipe.output),
            *((("defaults", name), value) for name, value in recipe.defaults.items()),
        ]
        for index, entry in enumerate(recipe.include):
            for name in limits.PROMPT_FIELDS:
                if name in entry:
                    sites.append((("matrix", "include", index, name), entry[name]))
        for node, text in sites:
            if isinstance(text, str):
                problem = self.templates.check(text)
                if problem is not None:
                    self._template_problem(node, problem, None)

    def build(self, index: int, combo: Combination) -> Job | None:
        """The job for one combination, or None when it has problems (they are logged)."""
        label = self.labels(combo)
        context = JobContext(self.base_context, {**combo.vars, "recipe": self.recipe_info})
        failed = False
        fields: dict[str, Any] = {}
        origins: dict[str, NodePath] = {}
        static = self.static_fields
        if static is not None and combo.vars.keys().isdisjoint(limits.PROMPT_FIELDS):
            fields, origins = dict(static[0]), dict(static[1])  # checked already
            checked: Iterable[str] = ("prompt",)
        else:
            checked = origins
            for name in limits.PROMPT_FIELDS:
                try:
                    fields[name], origins[name] = self._field(name, combo, context, label)
                except _JobFailed:
                    failed = True
        try:
            fields["prompt"] = self._render(PROMPT_NODE, self.recipe.prompt, context, label)
            origins["prompt"] = PROMPT_NODE
        except _JobFailed:
            failed = True
        for name in checked:
            if name not in origins:
                continue
            message = self._check(name, fields[name])
            if message is not None:
                self._limit_problem(name, fields[name], message, origins[name], label)
                failed = True
        image = self._image(combo, context, label)
        outputs = None
        if not failed:
            outputs = self._outputs(index, fields, context, label)
        joined = "".join(outputs) if outputs is not None else ""
        # Typographic quotes and odd spaces are outside ASCII: an ASCII path (most are) has none.
        if not joined.isascii():
            if any(q in joined for q in TYPOGRAPHIC_QUOTES):
                self._quoted_value(combo, joined)
            if _ODD_SPACE.search(joined):
                found = self.origins.find_odd_space(combo, joined)
                if found is not None:
                    span = found[1]
                    self.spaced_values.setdefault((span.file, span.line, span.col), found)
        if failed or image is None or outputs is None:
            self.problems.failed += 1
            return None
        prompt_object = PromptObject(
            prompt=fields["prompt"],
            size=fields["size"],
            n=fields["n"],
            quality=fields["quality"],
            output_format=fields["output_format"],
            output_compression=fields["output_compression"],
        )
        key = job_key(image, prompt_object)
        return Job(key, index, combo.vars, label, image, prompt_object, outputs)

    def _field(
        self, name: str, combo: Combination, context: Mapping[str, Any], label: str
    ) -> tuple[Any, NodePath]:
        """A promptObject field's value and the recipe node it came from."""
        if name not in combo.vars:
            static = self.static.get(name)
            if static is not None:
                return static
        templated = True
        if name in combo.vars:
            raw = combo.vars[name]
            if name in combo.origins:
                node: NodePath = ("matrix", "include", combo.origins[name], name)
            else:
                node, templated = self.axis_nodes.get(name, ("matrix",)), False
        elif name in self.recipe.defaults:
            raw, node = self.recipe.defaults[name], ("defaults", name)
            if not (isinstance(raw, str) and needs_rendering(raw)):
                static = self.static[name] = (self._as_number(name, raw, raw, node, label), node)
                return static
        else:
            return limits.DEFAULT_PROMPT_OBJECT[name], ("defaults",)
        value = raw
        if isinstance(raw, str) and templated:
            value = self._render(node, raw, context, label)
        return self._as_number(name, value, raw, node, label), node

    def _as_number(self, name: str, value: Any, raw: Any, node: NodePath, label: str) -> Any:
        """Whole-number fields written as text (a template or a CSV cell) become numbers."""
        if name not in limits.INTEGER_FIELDS or not isinstance(value, str):
            return value
        text = value.strip()
        came_from = f" (from {clipped_repr(raw)})" if raw != value else ""
        if not _WHOLE_NUMBER.fullmatch(text):
            message = f"{name}: {clipped_repr(value)}{came_from} is not a whole number"
            self.problems.add(node, message, label=label, hint=f"{name} must be a number")
            raise _JobFailed
        digits = len(text.lstrip("+-").lstrip("0"))
        if digits > _MAX_FIELD_DIGITS:  # int() refuses over 4,300 digits; none is in range
            low, high = _INTEGER_RANGES[name]
            message = f"{name}: a number {digits:,} digits long{came_from} is out of range"
            hint = f"{name} must be from {low} to {high}"
            self.problems.add(node, message, label=label, hint=hint, group="too many digits")
            raise _JobFailed
        return int(text)

    def _check(self, name: str, value: Any) -> str | None:
        """limits.check_field, remembered per (field, value): most jobs repeat their values."""
        if name == "prompt":
            return limits.check_field(name, value)
        try:
            return self.checked[(name, value)]
        except KeyError:
            problem = self.checked[(name, value)] = limits.check_field(name, value)
            return problem
        except TypeError:  # an unhashable value (a mapping given as a quality, say)
            return limits.check_field(name, value)

    def _render(self, node: NodePath, text: str, context: Mapping[str, Any], label: str) -> str:
        try:
            rendered = self.templates.render(text, context)
        except TemplateProblem as problem:
            self._template_problem(node, problem, label)
            raise _JobFailed from None
        # A key built by a template (pieces joined, CSV cells, reversed) is caught here, before
        # anything is sent or written; the message never shows it.
        secret = rendered_secret(rendered, self.api_key)
        if secret is not None:
            message = f"this makes text that contains {secret}"
            span = _hidden(self.problems.source.span(node))
            self.problems.add(node, message, label=label, hint=_SECRET_HINT, span=span)
            raise _JobFailed
        return rendered

    def _template_problem(
        self, node: NodePath, problem: TemplateProblem, label: str | None
    ) -> None:
        span = template_span(self.problems.source, node, problem.line, problem.at)
        self.problems.add(node, problem.message, label=label, hint=problem.hint, span=span)

    def _limit_problem(
        self, name: str, value: Any, message: str, node: NodePath, label: str
    ) -> None:
        choices = _CHOICES.get(name)
        if choices and isinstance(value, str):
            message += suggestion_suffix(value, choices)
        if name != "prompt":
            message = f"{name}: {message}"
        longest = limits.PROMPT_LENGTH[1]
        if name == "prompt" and isinstance(value, str) and len(value) > longest:
            # One message for every job whose prompt is too long, however long each one is.
            message = f"the prompt is longer than the API allows (at most {longest:,} characters)"
            hint = (
                f"job {label} has {len(value):,}; prompts are counted after rendering: shorten "
                "the prompt template, or the values it puts in (long CSV cells?)"
            )
            self.problems.add(node, message, label=label, hint=hint, group="prompt too long")
            return
        self.problems.add(node, message, label=label)

    def _image(
        self, combo: Combination, context: Mapping[str, Any], label: str
    ) -> ImageSource | None:
        try:
            rendered = self._render(IMAGE_NODE, self.recipe.image, context, label)
        except _JobFailed:
            return None
        try:
            return self.images.resolve(rendered)
        except ImageProblem as problem:
            hint, span = problem.hint, None
            if (
                needs_rendering(self.recipe.image)
                and (IMAGE_NODE, problem.message) not in self.problems
            ):
                # Point at the value that names the file (a recipe line, a CSV or workbook
                # cell), not at the `image:` template that only reads it.
                span = self.origins.find(combo, rendered.strip())
                template = self.problems.source.span(IMAGE_NODE)
                if span is not None and template is not None:
                    where = f"{template.file}:{template.line}"
                    hint = f"`image:` ({where}) makes the path from this value; {hint}"
            self.problems.add(IMAGE_NODE, problem.message, label=label, hint=hint, span=span)
            return None

    def _quoted_value(self, combo: Combination, outputs: str) -> None:
        """Remember a data file's value in typographic quotes that made an output path (the
        recipe's own values are warned about when it is loaded)."""
        found = self.origins.find_wrapped(combo, outputs)
        if found is not None and found[1].file != self.recipe.source.file:
            span = found[1]
            self.quoted_values.setdefault((span.file, span.line, span.col), found)

    def warnings(self) -> list[Diagnostic]:
        """What the jobs showed that is usable but probably not meant: one warning per kind."""
        warnings = []
        quoted = list(self.quoted_values.values())
        if quoted:
            value, span = quoted[0]
            warnings.append(
                Diagnostic(
                    f"the value {value} is in typographic quotes, which become part of output "
                    f"paths{_more(len(quoted) - 1)}",
                    span=span,
                    hint='remove the quotes from the value (Excel and Word turn " into “ ” as '
                    "you type)",
                    severity="warning",
                )
            )
        spaced = list(self.spaced_values.values())
        if spaced:
            value, span = spaced[0]
            at = odd_space_in(value) or 0
            warnings.append(
                Diagnostic(
                    f"the value {clipped_repr(value)} holds a {char_name(value[at])}, which "
                    "looks like a space but makes other folder and file names"
                    + _more(len(spaced) - 1),
                    span=span,
                    hint="type an ordinary space there (Word and Excel put non-breaking spaces "
                    "into text), or remove it",
                    severity="warning",
                )
            )
        return warnings

    def _outputs(
        self, index: int, fields: Mapping[str, Any], context: Mapping[str, Any], label: str
    ) -> tuple[str, ...] | None:
        try:
            rendered = self._render(OUTPUT_NODE, self.recipe.output, context, label)
            extension = limits.FORMAT_EXTENSIONS[fields["output_format"]]
            paths = output_paths(rendered, extension, fields["n"])
        except _JobFailed:
            return None
        except OutputProblem as problem:
            hint, rule = problem.hint, f"rule:{problem.rule}"
            self.problems.add(OUTPUT_NODE, problem.message, label=label, hint=hint, group=rule)
            return None
        ok = True
        for path in paths:
            escape = self.escapes.escape(path)
            if escape is not None:
                hint = "remove the link from the output folder, or choose another output folder"
                self.problems.add(OUTPUT_NODE, escape, label=label, hint=hint)
                ok = False
                continue
            seen = (index, label, path)
            first_index, first, first_path = self.outputs_seen.setdefault(same_file_key(path), seen)
            if first_index != index:
                message = f"the output {path} is shared by two jobs: {first} and {label}"
                if first_path != path:  # differ only by case or Unicode form: one file anyway
                    message = (
                        f"the outputs {first_path!r} and {path!r} are one file on macOS and "
                        f"Windows, which ignore case and Unicode forms: jobs {first} and {label}"
                    )
                hint = (
                    "put a matrix value in `output` (e.g. {{ season }}) so that each job's differs"
                )
                self.problems.add(OUTPUT_NODE, message, hint=hint, group="shared output")
                ok = False
        return paths if ok else None
