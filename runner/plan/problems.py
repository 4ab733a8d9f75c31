"""Collect per-job problems once each: a typo in `prompt` is one message, not 100,000."""

from __future__ import annotations

from dataclasses import dataclass

from runner.diagnostics import Diagnostic, Span
from runner.printable import one_line
from runner.recipe.model import NodePath, SourceMap, format_path
from runner.recipe.template_location import template_span

__all__ = ["ProblemLog", "template_span"]


@dataclass
class _Seen:
    diagnostic: Diagnostic
    label: str | None
    count: int = 1


class ProblemLog:
    """Problems keyed by (recipe node, message); the first job's label and a count are kept."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self._seen: dict[tuple[NodePath, str], _Seen] = {}
        self.failed = 0  # jobs with at least one problem

    def add(
        self,
        node: NodePath,
        message: str,
        *,
        label: str | None = None,
        hint: str | None = None,
        span: Span | None = None,
        group: str | None = None,
    ) -> None:
        """Log a problem; ones with the same node and `group` (default: message) count as one."""
        key = (node, group or message)
        seen = self._seen.get(key)
        if seen is not None:
            seen.count += 1
            return
        where = span or self.source.span(node)
        self._seen[key] = _Seen(Diagnostic(message, format_path(node), where, hint), label)

    def __bool__(self) -> bool:
        return bool(self._seen)

    def __contains__(self, key: tuple[NodePath, str]) -> bool:
        """Whether a problem (node, group or message) is logged already."""
        return key in self._seen

    def diagnostics(self, total_jobs: int) -> list[Diagnostic]:
        out = []
        for seen in self._seen.values():
            diagnostic = seen.diagnostic
            if seen.label is not None:
                diagnostic = _with_jobs(diagnostic, seen.label, seen.count, total_jobs)
            elif seen.count > 1:
                more = f"{diagnostic.message} (and {seen.count - 1:,} more like it)"
                diagnostic = _reworded(diagnostic, more)
            out.append(diagnostic)
        return out


def _with_jobs(diagnostic: Diagnostic, label: str, count: int, total: int) -> Diagnostic:
    label = one_line(label)  # a value with a newline would break the message's line in two
    if count > 1 and count == total:
        jobs = f"in all {count:,} jobs"
    elif count > 1:
        others = count - 1
        jobs = f"in job {label} and {others:,} other job{'s' if others > 1 else ''}"
    else:
        jobs = f"in job {label}" if label else "in the only job"
    return _reworded(diagnostic, f"{diagnostic.message} ({jobs})")


def _reworded(diagnostic: Diagnostic, message: str) -> Diagnostic:
    return Diagnostic(
        message,
        diagnostic.path,
        diagnostic.span,
        diagnostic.hint,
        diagnostic.severity,
        diagnostic.file,
    )
