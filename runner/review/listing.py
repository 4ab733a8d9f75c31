"""The review page's jobs, as JSON the page fetches: a compact index of all, and cards by page.

At 5,000 jobs the whole page as HTML was 5 to 12 MB. The page now loads a shell (page.py), then
an index that holds, per job, only what the filters and counts need (small integers), and then
the cards of the page in view. A listing is the jobs of one page load, in order; its `version`
names that order, so that a page built on another run's jobs is told to reload rather than shown
the wrong jobs at its positions. Cards are built at each request from the listing and the
decisions as they are now.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from runner.execute.kept_takes import earlier_take_files
from runner.execute.thumbs import THUMBS_DIR, thumb_name
from runner.records.run_records import JobRecord, RunSnapshot
from runner.report.axis_values import axis_label, value_identity
from runner.report.content import Generated, folder_content
from runner.report.html_view import details
from runner.review.binding import binding, binding_notice, images_on_disk, shown_status
from runner.review.decision_model import STATUSES, Review, Status, review_key

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
PAGE_SIZE = 100  # jobs per page: 150 to 250 KB of JSON, drawn in a few milliseconds
MAX_CARDS = 500  # jobs one request may ask for


@dataclass(frozen=True)
class FilterRow:
    kind: str  # "review", "run" or "axis"
    name: str
    axis: int | None
    buttons: tuple[tuple[str, str], ...]  # (value, label), "all" first


@dataclass(frozen=True)
class Listing:
    """The jobs of one page load, in plan order, and what the filters know of each."""

    title: str
    version: str  # names the jobs and their order (a digest of their review keys)
    jobs: tuple[JobRecord, ...]
    keys: tuple[str, ...]
    values: tuple[tuple[int, ...], ...]  # per axis, each job's value index
    filters: tuple[FilterRow, ...]
    outputs: Mapping[str, tuple[str, ...]]  # review key -> the job's outputs
    generated: Mapping[str, Generated]  # by job key: the generation its images come from


def build_listing(snapshot: RunSnapshot) -> Listing:
    jobs = tuple(sorted((job for job in snapshot.jobs if job.outputs), key=lambda job: job.index))
    keys = tuple(review_key(job.outputs) for job in jobs)
    axes = [_axis(name, jobs) for name in snapshot.axes]
    filters = [
        FilterRow(
            "review",
            "Review",
            None,
            (("all", "All"), *((status, REVIEW_STATUS_NAMES[status]) for status in STATUSES)),
        )
    ]
    present = {job.shown_status for job in jobs}
    run_statuses = [status for status in RUN_STATUS_NAMES if status in present]
    if len(run_statuses) > 1:
        buttons = tuple((status, RUN_STATUS_NAMES[status]) for status in run_statuses)
        filters.append(FilterRow("run", "Run", None, (("all", "All"), *buttons)))
    for number, (name, labels, _) in enumerate(axes):
        if len(labels) > 1:
            buttons = tuple((str(i), label) for i, label in enumerate(labels))
            filters.append(FilterRow("axis", name, number, (("all", "All"), *buttons)))
    return Listing(
        title=snapshot.recipe_name,
        version=hashlib.sha256("\n".join(keys).encode("utf-8", "surrogatepass")).hexdigest()[:20],
        jobs=jobs,
        keys=keys,
        values=tuple(values for _, _, values in axes),
        filters=tuple(filters),
        outputs={key: job.outputs for key, job in zip(keys, jobs, strict=True)},
        generated=folder_content(snapshot).generated,
    )


def _axis(name: str, jobs: Sequence[JobRecord]) -> tuple[str, list[str], tuple[int, ...]]:
    """An axis's value labels, in the order they first appear, and each job's value index (as
    the report's filters number them: grid.AxisValues; one pass, without the report's layout)."""
    numbers: dict[str, int] = {}
    labels: list[str] = []
    values = []
    for job in jobs:
        identity = value_identity(job.vars, name)
        number = numbers.get(identity)
        if number is None:
            number = numbers[identity] = len(labels)
            labels.append(axis_label(job.vars, name))
        values.append(number)
    return name, labels, tuple(values)


class Listings:
    """The jobs a page may show and a decision may name: read with each page load, not with each
    click or page turn.

    Reading the whole run per click cost 0.4 s at 5,000 jobs. A page only names the jobs it was
    built with, so refreshing at each page load (and for an unknown name) is enough; the images
    of the job clicked are read again at the click (app.ReviewSite.images_now). The last few
    listings are kept by version, so that a page opened before another one reloaded (after a
    run) still gets the jobs it was built on.
    """

    KEPT = 3

    def __init__(self, output_dir: Path, load_snapshot: Callable[[], RunSnapshot]) -> None:
        self.output_dir = output_dir
        self.load_snapshot = load_snapshot
        self.listings: OrderedDict[str, Listing] = OrderedDict()
        self.latest: Listing | None = None
        self.images: dict[str, tuple[str | None, ...]] = {}
        self._lock = threading.Lock()  # requests are answered in worker threads

    def refresh(self, snapshot: RunSnapshot | None = None) -> Listing:
        listing = build_listing(snapshot or self.load_snapshot())
        output_dir = self.output_dir
        images = {
            key: images_on_disk(output_dir, job)
            for key, job in zip(listing.keys, listing.jobs, strict=True)
        }
        with self._lock:
            self.images = images
            self.listings[listing.version] = self.latest = listing
            self.listings.move_to_end(listing.version)
            while len(self.listings) > self.KEPT:
                self.listings.popitem(last=False)
        return listing

    def version(self, version: str | None) -> Listing | None:
        """The listing a page was built on, if it is still kept."""
        with self._lock:
            return self.listings.get(version or "")

    def current(self, key: object) -> Mapping[str, tuple[str, ...]]:
        latest = self.latest
        if latest is None or key not in latest.outputs:
            latest = self.refresh()
        return latest.outputs


def count_statuses(review: Review, images: Mapping[str, Sequence[str | None]]) -> dict[str, int]:
    """The jobs per status as the page shows them (an approval of other images is pending)."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    counts["pending"] = len(images)  # until decided: only the decisions need a look
    for key, decision in review.decisions.items():
        shown = images.get(key)
        if shown is not None:
            counts["pending"] -= 1
            counts[shown_status(decision, shown)] += 1
    return counts


def index_json(
    listing: Listing, review: Review, images: Mapping[str, Sequence[str | None]], page_size: int
) -> dict[str, Any]:
    """What the filters, counts and keys need of every job: small integers, no recipe text."""
    statuses = list(STATUSES)
    runs = list(RUN_STATUS_NAMES)
    return {
        "version": listing.version,
        "total": len(listing.jobs),
        "page_size": page_size,
        "statuses": statuses,
        "runs": runs,
        "status": [
            statuses.index(shown_status(review.decision(key), images[key])) for key in listing.keys
        ],
        "run": [runs.index(job.shown_status) for job in listing.jobs],
        "values": [list(values) for values in listing.values],
        "counts": count_statuses(review, images),
    }


def cards_json(
    listing: Listing, positions: Sequence[int], review: Review, urls: FileUrls
) -> list[dict[str, Any]]:
    """The jobs at these positions of the listing, as the page draws them: with the decisions
    and the files as they are now."""
    return [
        job_card(
            position,
            listing.jobs[position],
            listing.generated.get(listing.jobs[position].key, Generated(None, None)),
            review,
            images_on_disk(urls.output_dir, listing.jobs[position]),
            urls,
        )
        for position in positions
    ]


class FileUrls:
    """The page's links to the output folder's images, each with the page's token."""

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


def job_card(
    position: int,
    job: JobRecord,
    generated: Generated,
    review: Review,
    images: Sequence[str | None],
    urls: FileUrls,
) -> dict[str, Any]:
    """One job as the page shows it; every value goes into the page as text, never as markup."""
    key = review_key(job.outputs)
    decision = review.decision(key)
    previous: list[str] = []
    if decision.take > 1:
        kept = earlier_take_files(urls.output_dir, job.outputs, decision.take - 1)
        previous = [urls.file(path) for path in kept]
    history = [
        f"Take {earlier.take}: {REVIEW_STATUS_NAMES[earlier.status].lower()}"
        + (f" ({earlier.note})" if earlier.note else "")
        + (f"; then {earlier.reason}" if earlier.reason else "")
        for earlier in decision.history
    ]
    return {
        "position": position,
        "key": key,
        "label": job.label,
        "run": job.shown_status,
        # As it holds for the images shown: an approval of other images is pending.
        "status": shown_status(decision, images),
        # A pick made on images since replaced is no choice among these.
        "pick": None if binding(decision, images) == "replaced" else decision.pick,
        "note": decision.note or "",
        "take": decision.take,
        "variants": [
            {
                "number": number,
                "src": urls.thumb(record.sha256, record.path),
                "full": urls.file(record.path, record.sha256),
                "width": record.width,
                "height": record.height,
            }
            for number, record in enumerate(job.files, start=1)
        ],
        "previous": previous,
        "history": history,
        "error": job.error,
        # The report's Details, so that both name every value alike (name: value, readable).
        "details": [list(row) for row in details(job, job.shown_status, generated)],
        "sha256": [record.sha256 for record in job.files],  # what a decision from here is on
        "notice": binding_notice(decision, images),
    }


def job_images(snapshot: RunSnapshot, output_dir: Path) -> dict[str, tuple[str | None, ...]]:
    """Each job's review key and the SHA-256 at each of its outputs (None: not written yet;
    binding.CHANGED_ON_DISK: not the file written there)."""
    return {
        review_key(job.outputs): images_on_disk(output_dir, job)
        for job in snapshot.jobs
        if job.outputs
    }
