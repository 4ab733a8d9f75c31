"""GitHub Actions output: workflow-command annotations and the job summary (strings only).

Annotations go to stdout as `::error file=...,line=...::message`; GitHub shows at most 10 of
each kind per step, so the rest are counted in one notice. The job summary is Markdown appended
to the file named by $GITHUB_STEP_SUMMARY (GitHub refuses more than 1 MiB per step).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from runner.diagnostics import Diagnostic, display_path
from runner.markdown import md_code, md_text
from runner.printable import controls_shown

Kind = Literal["error", "warning", "notice"]
KINDS: tuple[Kind, ...] = ("error", "warning", "notice")
PER_KIND = 10  # GitHub shows no more than this many annotations of one kind per step
SUMMARY_LIMIT = 256 * 1024  # well under GitHub's 1 MiB per step
_SUMMARY_ROWS = 50
_CELL = 300  # the most of one value in the summary, escapes included
# Backdrop's own files: a problem in one is titled by its name, not as a recipe problem.
_OWN_FILES = frozenset({"review.yaml", "backdrop.lock", "state.db"})


def enabled(fmt: str | None = None) -> bool:
    """--format github, or inside GitHub Actions unless stdout carries JSON or Markdown."""
    if fmt == "github":
        return True
    return fmt in (None, "text") and os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A message: %, CR and LF are encoded, the way GitHub's toolkit does it (command.ts)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value: the message's escapes plus ':' and ','."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass(frozen=True)
class Annotation:
    kind: Kind
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    title: str | None = None

    def command(self) -> str:
        props: list[tuple[str, object]] = [
            ("file", self.file),
            ("line", self.line),
            ("col", self.col),
            ("endLine", self.end_line),
            ("endColumn", self.end_column),
            ("title", self.title),
        ]
        # The toolkit leaves out empty properties (`if (val)`); ours are never 0 or false.
        text = ",".join(
            f"{k}={escape_property(_shown(v))}" for k, v in props if v not in (None, "")
        )
        head = f"{self.kind} {text}" if text else self.kind
        return f"::{head}::{escape_data(_shown(self.message))}"


def _shown(value: object) -> str:
    """Control characters written out (the line may reach a terminal: --format github); CR and
    LF left for the toolkit's %0D and %0A."""
    return "\r".join(controls_shown(part) for part in str(value).split("\r"))


def annotation_of(diagnostic: Diagnostic) -> Annotation:
    """A recipe problem, pinned to its place; the hint follows the message on its own line."""
    message = diagnostic.message + (f"\nhint: {diagnostic.hint}" if diagnostic.hint else "")
    if diagnostic.path:
        message = f"{diagnostic.path}: {message}"
    title = _title(diagnostic)
    span = diagnostic.span
    if span is None:
        file = diagnostic.file
        return Annotation(diagnostic.severity, message, _repo_path(file), title=title)
    return Annotation(
        diagnostic.severity,
        message,
        _repo_path(span.file),
        span.line,
        span.col,
        span.line,  # a span never crosses a line
        max(span.col, span.end_col - 1),  # GitHub's endColumn is inclusive; ours is exclusive
        title,
    )


def _title(diagnostic: Diagnostic) -> str:
    """`Backdrop: recipe error` for the recipe and its data files; a problem in review.yaml,
    backdrop.lock or the state, or with no file at all (`export --strict`), is not one."""
    kind = "error" if diagnostic.severity == "error" else "warning"
    file = diagnostic.span.file if diagnostic.span is not None else diagnostic.file
    if file is None:
        return f"Backdrop: {kind}"
    name = Path(file).name
    return f"Backdrop: {name if name in _OWN_FILES else 'recipe'} {kind}"


def capped(annotations: Iterable[Annotation], per_kind: int = PER_KIND) -> list[str]:
    """The first `per_kind` of each kind, then one notice that counts what was left out."""
    shown: list[str] = []
    counts: dict[Kind, int] = dict.fromkeys(KINDS, 0)
    for annotation in annotations:
        counts[annotation.kind] += 1
        if counts[annotation.kind] <= per_kind:
            shown.append(annotation.command())
    left = {kind: count - per_kind for kind, count in counts.items() if count > per_kind}
    if left:
        words = ", ".join(f"{n:,} more {kind}{'s' if n != 1 else ''}" for kind, n in left.items())
        note = Annotation(
            "notice",
            f"{words} not shown here (GitHub shows {per_kind} of each kind per step); "
            "see the step's log for all of them",
            title="Backdrop: more problems",
        )
        shown.append(note.command())
    return shown


def diagnostic_commands(diagnostics: Iterable[Diagnostic]) -> list[str]:
    return capped(annotation_of(d) for d in diagnostics)


def failure_commands(failures: Sequence[Any], recipe: Path) -> list[str]:
    """Failed jobs of a run, as errors on the recipe (the summary lists them all)."""
    file = _repo_path(str(recipe))
    errors = [
        Annotation(
            "error",
            f"{f.label or 'job'}: {f.message}" + (f"\nhint: {f.hint}" if f.hint else ""),
            file,
            1,
            title="Backdrop: job failed",
        )
        for f in failures
    ]
    return capped(errors)


def append_summary(markdown: str) -> bool:
    """Append to $GITHUB_STEP_SUMMARY when it is set; False when it is not."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    if len(markdown) > SUMMARY_LIMIT:
        markdown = markdown[: SUMMARY_LIMIT - 200] + "\n\n_(cut to stay under GitHub's limit)_\n"
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n\n")
    return True


def run_summary(
    *,
    recipe: str,
    totals: Mapping[str, int],
    cost_usd: float | None,
    failures: Sequence[Any],
    report: str | None,
    fatal: str | None = None,
) -> str:
    """The job summary of a run: totals, cost, failures with their matrix values, the report."""
    lines = [f"### Backdrop run: {md_code(recipe, _CELL)}", ""]
    lines.append(", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in totals.items()))
    if cost_usd is not None:
        lines += ["", f"Estimated cost of what was generated: ${cost_usd:,.2f} (list prices)."]
    if fatal:
        lines += ["", f"**The run stopped:** {md_text(fatal, _CELL)}"]
    if failures:
        lines += ["", f"#### {len(failures):,} failed job(s)", ""]
        lines += ["| job | message |", "| --- | --- |"]
        for failure in failures[:_SUMMARY_ROWS]:
            job = md_text(_vars_text(failure.vars) or failure.label, _CELL)
            lines.append(f"| {job} | {md_text(failure.message, _CELL)} |")
        if len(failures) > _SUMMARY_ROWS:
            lines.append(f"\nand {len(failures) - _SUMMARY_ROWS:,} more (see results.csv).")
    if report:
        lines += ["", f"Report: {md_code(report, _CELL)} (in the output folder's artifact)."]
    return "\n".join(lines) + "\n"


def verify_summary(outdir: str, missing: Sequence[str], changed: Sequence[str],
                   stale: Sequence[str]) -> str:  # fmt: skip
    lines = [f"### Backdrop verify: {md_code(outdir, _CELL)}", ""]
    if not (missing or changed or stale):
        lines.append("Every image matches backdrop.lock.")
        return "\n".join(lines) + "\n"
    lines.append(
        f"{len(missing):,} missing, {len(changed):,} changed, {len(stale):,} stale file(s)."
    )
    for title, paths in (("Missing", missing), ("Changed", changed), ("Stale", stale)):
        if not paths:
            continue
        lines += ["", f"#### {title}", ""]
        lines += [f"- {md_code(p, _CELL)}" for p in paths[:_SUMMARY_ROWS]]
        if len(paths) > _SUMMARY_ROWS:
            lines.append(f"- ... and {len(paths) - _SUMMARY_ROWS:,} more")
    return "\n".join(lines) + "\n"


def _repo_path(file: str | None) -> str | None:
    """Annotations attach to files by their path in the repository: relative to the workspace."""
    if not file:
        return None
    path = Path(file)
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        try:
            return path.absolute().relative_to(Path(workspace).absolute()).as_posix()
        except ValueError:
            pass
    return Path(display_path(path)).as_posix()


def _vars_text(vars: Mapping[str, Any], prefix: str = "") -> str:
    parts = []
    for name, value in vars.items():
        if isinstance(value, Mapping):
            parts.append(_vars_text(value, f"{prefix}{name}."))
        elif not isinstance(value, list):
            parts.append(f"{prefix}{name}={value}")
    return " ".join(p for p in parts if p)
