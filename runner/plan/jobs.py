"""Turn matrix combinations into Jobs: render, resolve the promptObject, check limits, key."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.api import limits
from runner.diagnostics import suggestion_suffix
from runner.plan.axes import AxisValues
from runner.plan.images import ImageProblem, ImageResolver
from runner.plan.matrix import Combination
from runner.plan.model import ImageSource, Job, PromptObject
from runner.plan.outputs import EscapeCheck, OutputProblem, output_paths
from runner.plan.problems import ProblemLog, template_span
from runner.plan.templates import TemplateProblem, TemplateRenderer
from runner.recipe.model import NodePath, Recipe

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_CHOICES: Mapping[str, Sequence[str]] = {
    "size": limits.SIZES,
    "quality": limits.QUALITIES,
    "output_format": limits.OUTPUT_FORMATS,
}
PROMPT_NODE: NodePath = ("prompt",)
IMAGE_NODE: NodePath = ("image",)
OUTPUT_NODE: NodePath = ("output",)


def job_key(image: ImageSource, prompt_object: PromptObject) -> str:
    """sha256 of a canonical JSON of what the API is asked: the same on every machine."""
    payload = {
        "type": limits.FEATURE_TYPE,
        "model": limits.MODEL,
        "image": image.identity,
        "prompt_object": prompt_object.to_json(),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def label_value(value: Any) -> str:
    """How a matrix value shows in a job label: a mapping by its first plain value."""
    if isinstance(value, Mapping):
        for item in value.values():
            if isinstance(item, str | int | float | bool):
                return str(item)
        return "{...}"
    return str(value)


def job_label(combo: Combination, axis_names: Sequence[str]) -> str:
    names = [name for name in axis_names if name in combo.vars] or list(combo.vars)
    return " ".join(f"{name}={label_value(combo.vars[name])}" for name in names)


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
    ) -> None:
        self.recipe = recipe
        self.problems = problems
        self.templates = TemplateRenderer()
        self.images = ImageResolver(recipe.base_dir)
        self.escapes = EscapeCheck(output_dir)
        self.axis_names = [axis.name for axis in axes]
        self.axis_nodes = {axis.name: axis.node for axis in axes}
        self.recipe_info = {"name": recipe.name}
        # Casefolded output path -> the first job writing it (macOS and Windows ignore case).
        self.outputs_seen: dict[str, tuple[int, str]] = {}

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
        label = job_label(combo, self.axis_names)
        context = {**self.recipe.vars, **combo.vars, "recipe": self.recipe_info}
        failed = False
        fields: dict[str, Any] = {}
        origins: dict[str, NodePath] = {}
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
        for name, message in limits.check_prompt_object(fields):
            if name in origins:
                self._limit_problem(name, fields[name], message, origins[name], label)
                failed = True
        image = self._image(context, label)
        outputs = None
        if not failed:
            outputs = self._outputs(index, fields, context, label)
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
        templated = True
        if name in combo.vars:
            raw = combo.vars[name]
            if name in combo.origins:
                node: NodePath = ("matrix", "include", combo.origins[name], name)
            else:
                node, templated = self.axis_nodes.get(name, ("matrix",)), False
        elif name in self.recipe.defaults:
            raw, node = self.recipe.defaults[name], ("defaults", name)
        else:
            return limits.DEFAULT_PROMPT_OBJECT[name], ("defaults",)
        value = raw
        if isinstance(raw, str) and templated:
            value = self._render(node, raw, context, label)
        if name in limits.INTEGER_FIELDS and isinstance(value, str):
            text = value.strip()
            if not _WHOLE_NUMBER.fullmatch(text):
                came_from = f" (from {raw!r})" if raw != value else ""
                message = f"{name}: {value!r}{came_from} is not a whole number"
                self.problems.add(node, message, label=label, hint=f"{name} must be a number")
                raise _JobFailed
            value = int(text)
        return value, node

    def _render(self, node: NodePath, text: str, context: Mapping[str, Any], label: str) -> str:
        try:
            return self.templates.render(text, context)
        except TemplateProblem as problem:
            self._template_problem(node, problem, label)
            raise _JobFailed from None

    def _template_problem(
        self, node: NodePath, problem: TemplateProblem, label: str | None
    ) -> None:
        span = template_span(self.problems.source, node, problem.line)
        self.problems.add(node, problem.message, label=label, hint=problem.hint, span=span)

    def _limit_problem(
        self, name: str, value: Any, message: str, node: NodePath, label: str
    ) -> None:
        choices = _CHOICES.get(name)
        if choices and isinstance(value, str):
            message += suggestion_suffix(value, choices)
        if name != "prompt":
            message = f"{name}: {message}"
        self.problems.add(node, message, label=label)

    def _image(self, context: Mapping[str, Any], label: str) -> ImageSource | None:
        try:
            rendered = self._render(IMAGE_NODE, self.recipe.image, context, label)
            return self.images.resolve(rendered)
        except _JobFailed:
            return None
        except ImageProblem as problem:
            self.problems.add(IMAGE_NODE, problem.message, label=label, hint=problem.hint)
            return None

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
            self.problems.add(OUTPUT_NODE, problem.message, label=label, hint=problem.hint)
            return None
        ok = True
        for path in paths:
            if self.escapes.escapes(path):
                message = f"the output path {path} leads out of the output folder (a symbolic link)"
                hint = "remove the link from the output folder, or choose another path"
                self.problems.add(OUTPUT_NODE, message, label=label, hint=hint)
                ok = False
                continue
            first_index, first = self.outputs_seen.setdefault(path.casefold(), (index, label))
            if first_index != index:
                message = f"the output {path} is shared by two jobs: {first} and {label}"
                hint = (
                    "put a matrix value in `output` (e.g. {{ season }}) so that each job's differs"
                )
                self.problems.add(OUTPUT_NODE, message, hint=hint, group="shared output")
                ok = False
        return paths if ok else None
