"""Delivered file names: the --name template over a job's matrix values, in the recipes' sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.diagnostics import UsageError
from runner.plan.outputs import OutputProblem, output_paths
from runner.plan.templates import TemplateRenderer
from runner.templating.environment import make_template_environment
from runner.templating.parse import TemplateProblem, parse_template


class NameRenderer:
    """Renders `--name` (default: the job's output path without extension) for each file."""

    def __init__(self, template: str | None, recipe_name: str) -> None:
        self.template = template
        self.recipe_name = recipe_name
        self.renderer = TemplateRenderer()
        # A template that names the channel itself gets no channel folder.
        self.names_channel = False
        self.used: frozenset[str] = frozenset()  # the names the template reads
        if template is not None:
            problem = self.renderer.check(template)
            if problem is not None:
                raise UsageError(f"--name {template!r}: {problem.message}", hint=problem.hint)
            parsed = parse_template(make_template_environment(), template)
            self.names_channel = "channel" in parsed.names
            self.used = frozenset(parsed.names)

    def path(
        self,
        *,
        review_key: str,
        vars: Mapping[str, Any],
        channel: str | None,
        variant: int,
        take: int,
        extension: str,
        label: str,
    ) -> str:
        """The file's POSIX path inside the export folder; UsageError when it is unusable."""
        if self.template is None:
            stem = review_key
        else:
            context = {
                **self.renderer.globals,
                **vars,
                "recipe": {"name": self.recipe_name},
                "channel": channel or "original",
                "variant": variant,
                "take": take,
            }
            try:
                stem = self.renderer.render(self.template, context)
            except TemplateProblem as problem:
                raise UsageError(
                    f"--name {self.template!r} fails for the job {label}: {problem.message}",
                    hint=problem.hint or "the template sees the matrix values, channel, variant",
                ) from None
        if channel is not None and not self.names_channel:
            stem = f"{channel}/{stem}"
        try:
            (path,) = output_paths(stem, extension, 1)
        except OutputProblem as problem:
            what = "--name" if self.template is not None else "the file name"
            raise UsageError(
                f"{what} gives an unusable name for the job {label}: {problem.message}",
                hint="names stay inside the export folder, e.g. --name "
                "'{{ product.sku }}_{{ market.code }}'",
            ) from None
        return path
