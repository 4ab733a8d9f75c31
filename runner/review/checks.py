"""Decisions review.yaml may not hold for the jobs of the folder, as review.yaml:LINE:COL errors.

The schema cannot tell these: they depend on each job's number of variants (n), which only the
run knows. `review`, `export` (and `status`) refuse them with exit 2. An approval of a job with
several variants must name the one to deliver; the page never writes one without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from runner.diagnostics import Diagnostic, display_path
from runner.recipe.model import SourceMap
from runner.records.run_records import RunSnapshot
from runner.review.decision_model import Review, review_key
from runner.review.decisions import REVIEW_NAME, review_source


def job_variants(snapshot: RunSnapshot) -> dict[str, int]:
    """Each job's review key and its number of variants (n)."""
    return {review_key(job.outputs): len(job.outputs) for job in snapshot.jobs if job.outputs}


def decision_problems(
    output_dir: Path, review: Review, variants: Mapping[str, int]
) -> list[Diagnostic]:
    """The approvals that do not say which variant to deliver, in file order.

    `variants`: each job's n (job_variants). Decisions on jobs not in it are left alone (they
    are orphaned, reported elsewhere).
    """
    found: list[tuple[tuple[str, ...], str, str]] = []  # (node, message, hint)
    for key, decision in review.decisions.items():
        n = variants.get(key)
        if n is None or decision.status != "approved":
            continue
        if decision.pick is None and n > 1:
            found.append(
                (
                    ("jobs", key, "status"),
                    f"approved without a pick: this job has {n} variants",
                    f"add 'pick: N' under it, N from 1 to {n}: the variant to deliver "
                    "(or approve it on the review page, which records the one in view)",
                )
            )
        elif decision.pick is not None and decision.pick > n:
            images = f"{n} variants" if n > 1 else "one image"
            found.append(
                (
                    ("jobs", key, "pick"),
                    f"pick {decision.pick}, but this job has {images}",
                    f"write a pick from 1 to {n}" if n > 1 else "delete the pick",
                )
            )
    if not found:
        return []
    source = _source(Path(output_dir), [node[1] for node, _, _ in found])
    problems = [
        Diagnostic(
            message,
            path=".".join(node),
            span=source.span(node) if source is not None else None,
            hint=hint,
            file=display_path(Path(output_dir) / REVIEW_NAME),
        )
        for node, message, hint in found
    ]
    return sorted(problems, key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))


def _source(output_dir: Path, keys: list[str]) -> SourceMap | None:
    """Where each value of review.yaml is, read again only when there is a problem to place
    (as load_review reads it: confined, and a large file only the lines of these jobs)."""
    return review_source(output_dir, keys)
