"""The review page: what it shows (a view built from the run and the decisions), and its HTML.

The HTML comes from templates/review.html.j2 with autoescaping on, so every value from a recipe
is escaped in text and attributes alike; only the page's own stylesheet and script are marked
`|safe`. Scripts get no recipe data: filters work on small integer indexes, and the decisions
travel as job keys the server checks against the run.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import quote, urlencode

from runner.execute.records import JobRecord, RunSnapshot
from runner.report.axis_values import value_text
from runner.report.grid import layout_sheet
from runner.report.thumbs import THUMBS_DIR, thumb_name
from runner.review.binding import binding, binding_notice, images_on_disk, shown_status
from runner.review.decisions import STATUSES, Review, Status, orphaned, review_key
from runner.review.takes import earlier_take_files
from runner.templating.pages import page_template

RUN_STATUS_NAMES = {
    "done": "Done",
    "failed": "Failed",
    "pending": "Not run yet",
}
REVIEW_STATUS_NAMES: Mapping[Status, str] = {
    "pending": "Pending review",
    "approved": "Approved",
    "rejected": "Rejected",
}


@dataclass(frozen=True)
class Variant:
    number: int  # 1-based, as `pick` counts
    src: str  # URL of the thumbnail (or the image itself)
    full: str  # URL of the image
    width: int
    height: int


@dataclass(frozen=True)
class JobView:
    key: str  # the review key: output path without extension
    label: str
    run_status: str
    status: Status  # as it holds for the images shown: an approval of other images is pending
    pick: int | None
    note: str
    take: int
    variants: tuple[Variant, ...]
    previous: tuple[str, ...]  # URLs of the previous take's images, when kept
    history: tuple[str, ...]  # "Take 1: rejected (too dark)", oldest first
    values: str  # one index per axis, space separated, for the filters
    error: str | None
    details: tuple[tuple[str, str], ...]
    sha256: str  # the variants shown, space separated: what a decision sent from here is on
    notice: str | None  # why review.yaml's decision does not hold for these images
    images: tuple[str | None, ...]  # at each output, as binding.images_on_disk finds them


@dataclass(frozen=True)
class FilterRow:
    kind: str  # "review", "run" or "axis"
    name: str
    axis: int | None
    buttons: tuple[tuple[str, str], ...]  # (value, label), "all" first


@dataclass(frozen=True)
class ReviewPage:
    title: str
    jobs: tuple[JobView, ...]
    filters: tuple[FilterRow, ...]
    counts: Mapping[str, int]
    orphans: tuple[str, ...]


def job_images(snapshot: RunSnapshot, output_dir: Path) -> dict[str, tuple[str | None, ...]]:
    """Each job's review key and the SHA-256 at each of its outputs (None: not written yet;
    binding.CHANGED_ON_DISK: not the file written there)."""
    return {
        review_key(job.outputs): images_on_disk(output_dir, job)
        for job in snapshot.jobs
        if job.outputs
    }


def count_statuses(review: Review, images: Mapping[str, Sequence[str | None]]) -> dict[str, int]:
    """The jobs per status as the page shows them (an approval of other images is pending)."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for key, shown in images.items():
        counts[shown_status(review.decision(key), shown)] += 1
    return counts


def build_page(snapshot: RunSnapshot, review: Review, output_dir: Path, token: str) -> ReviewPage:
    sheet = layout_sheet(snapshot)
    jobs = sorted((job for job in snapshot.jobs if job.outputs), key=lambda job: job.index)
    urls = _Urls(output_dir, token)
    views = tuple(
        _job_view(job, review, " ".join(str(axis.index(job)) for axis in sheet.axes), urls)
        for job in jobs
    )
    filters = [
        FilterRow(
            "review",
            "Review",
            None,
            (("all", "All"), *((status, REVIEW_STATUS_NAMES[status]) for status in STATUSES)),
        )
    ]
    run_statuses = [s for s in RUN_STATUS_NAMES if any(v.run_status == s for v in views)]
    if len(run_statuses) > 1:
        buttons = tuple((s, RUN_STATUS_NAMES[s]) for s in run_statuses)
        filters.append(FilterRow("run", "Run", None, (("all", "All"), *buttons)))
    for index, axis in enumerate(sheet.axes):
        if len(axis.labels) > 1:
            buttons = tuple((str(i), label) for i, label in enumerate(axis.labels))
            filters.append(FilterRow("axis", axis.name, index, (("all", "All"), *buttons)))
    keys = [view.key for view in views]
    return ReviewPage(
        title=snapshot.recipe_name,
        jobs=views,
        filters=tuple(filters),
        counts=count_statuses(review, {view.key: view.images for view in views}),
        orphans=orphaned(review, keys),
    )


class _Urls:
    def __init__(self, output_dir: Path, token: str) -> None:
        self.output_dir = output_dir
        self.query = urlencode({"token": token})

    def file(self, relative: str, sha256: str | None = None) -> str:
        """The file's URL; with `sha256`, served only while the file still has those bytes."""
        check = f"&{urlencode({'sha256': sha256})}" if sha256 else ""
        return f"/files/{quote(relative, safe='/')}?{self.query}{check}"

    def thumb(self, sha256: str, relative: str) -> str:
        thumb = (THUMBS_DIR / thumb_name(sha256)).as_posix()  # named after the image's bytes
        if (self.output_dir / thumb).is_file():
            return self.file(thumb)
        return self.file(relative, sha256)


def _job_view(job: JobRecord, review: Review, values: str, urls: _Urls) -> JobView:
    key = review_key(job.outputs)
    decision = review.decision(key)
    images = images_on_disk(urls.output_dir, job)
    variants = tuple(
        Variant(
            number, urls.thumb(f.sha256, f.path), urls.file(f.path, f.sha256), f.width, f.height
        )
        for number, f in enumerate(job.files, start=1)
    )
    previous: tuple[str, ...] = ()
    if decision.take > 1:
        kept = earlier_take_files(urls.output_dir, job.outputs, decision.take - 1)
        previous = tuple(urls.file(path) for path in kept)
    history = tuple(
        f"Take {earlier.take}: {REVIEW_STATUS_NAMES[earlier.status].lower()}"
        + (f" ({earlier.note})" if earlier.note else "")
        + (f"; then {earlier.reason}" if earlier.reason else "")
        for earlier in decision.history
    )
    details = [("Prompt", str(job.prompt_object.get("prompt", "")))]
    details.extend((name, value_text(value)) for name, value in job.vars.items())
    details.extend((f"Image {i}", path) for i, path in enumerate(job.outputs, start=1))
    return JobView(
        key=key,
        label=job.label,
        run_status=job.shown_status,
        status=shown_status(decision, images),
        # A pick made on images since replaced is no choice among these.
        pick=None if binding(decision, images) == "replaced" else decision.pick,
        note=decision.note or "",
        take=decision.take,
        variants=variants,
        previous=previous,
        history=history,
        values=values,
        error=job.error,
        details=tuple(details),
        sha256=" ".join(f.sha256 for f in job.files),
        notice=binding_notice(decision, images),
        images=images,
    )


# --- HTML ------------------------------------------------------------------------------------


def render_page(page: ReviewPage) -> str:
    style, script = _asset("review.css"), _asset("review.js")
    return page_template("runner.review", "review.html.j2").render(
        page=page,
        style=style,
        script=script,
        run_names=RUN_STATUS_NAMES,
        review_names=REVIEW_STATUS_NAMES,
    )


def content_security_policy() -> str:
    """Only the page's own style and script run; it talks to its own server and nothing else."""

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")

    return (
        "default-src 'none'; img-src 'self'; connect-src 'self'; "
        f"style-src 'sha256-{digest(_asset('review.css'))}'; "
        f"script-src 'sha256-{digest(_asset('review.js'))}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@cache
def _asset(name: str) -> str:
    return resources.files("runner.review").joinpath("assets", name).read_text(encoding="utf-8")
