"""The review page's server: a small Starlette app that only this machine's browser may use.

Every request must carry the per-run token and name this server in `Host` (a DNS-rebinding page
names its own host); a write must also come from this server's own `Origin` (so another site
cannot post decisions: CSRF) with a JSON body. Files are served only from inside the output
folder, after resolving symlinks, and only images.

The page is a shell; its script fetches the jobs as JSON (listing.py): GET /api/index (what the
filters and counts need of every job) and GET /api/jobs?at=... (the cards of the page in view),
both for the listing the shell was built on, named by its version.

A decision is made on the images the page showed: the page sends their SHA-256, and the server
saves it only if they are still the job's images (checked under review.yaml's lock, so that a run
replacing them meanwhile is either seen here or releases the decision after it). Approving a job
with several variants takes the variant picked in view; without one it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from runner.diagnostics import BackdropError
from runner.fileio import O_BINARY
from runner.records.run_records import RunSnapshot
from runner.review.binding import DEFAULT_REASON, binding, current_images, images_on_disk
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import MAX_VARIANTS, load_review, update_review, with_status
from runner.review.listing import (
    MAX_CARDS,
    PAGE_SIZE,
    FileUrls,
    Listings,
    cards_json,
    count_statuses,
    index_json,
)
from runner.review.page import build_page, content_security_policy, render_page

TOKEN_HEADER = "X-Backdrop-Token"
MAX_BODY_BYTES = 16 * 1024
MAX_NOTE_CHARS = 2000  # as schemas/review.schema.json
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
ACTIONS = ("approve", "reject", "pending", "pick")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


# The SHA-256 a run last wrote at each of these outputs (None: nothing yet), read at a click.
ImagesAt = Callable[[tuple[str, ...]], tuple[str | None, ...]]


@dataclass(frozen=True)
class ReviewSite:
    """What the app serves, and who may use it."""

    output_dir: Path  # absolute, resolved
    token: str
    origins: frozenset[str]  # e.g. http://127.0.0.1:8123 and http://localhost:8123
    load_snapshot: Callable[[], RunSnapshot]
    # None: read from load_snapshot() at each click (slower on big runs; fine for a fixed one)
    images_at: ImagesAt | None = None
    page_size: int = PAGE_SIZE  # jobs per page of the review page

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset(origin.removeprefix("http://") for origin in self.origins)

    def images_now(self, key: str, outputs: tuple[str, ...]) -> tuple[str | None, ...]:
        if self.images_at is not None:
            return self.images_at(outputs)
        for job in self.load_snapshot().jobs:
            if job.outputs and review_key(job.outputs) == key:
                return current_images(job)
        return (None,) * len(outputs)


class DecisionRefused(BackdropError):
    """A decision the page may not save as sent (answered 409 with the message)."""


def loopback_origins(port: int) -> frozenset[str]:
    return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})


def create_review_app(site: ReviewSite) -> Starlette:
    jobs = Listings(site.output_dir, site.load_snapshot)
    urls = FileUrls(site.output_dir, site.token)

    def page(request: Request) -> Response:  # sync: Starlette runs it in a worker thread
        refused = _refuse(request, site, write=False)
        if refused is not None:
            return refused
        try:
            listing = jobs.refresh()
            review = load_review(site.output_dir)
            view = build_page(listing, review, count_statuses(review, jobs.images))
        except BackdropError as error:
            return PlainTextResponse(
                _diagnostics(error) + "\n", status_code=503, headers=_SECURITY_HEADERS
            )
        headers = {**_SECURITY_HEADERS, "Content-Security-Policy": content_security_policy()}
        return HTMLResponse(render_page(view), headers=headers)

    def index(request: Request) -> Response:
        refused = _refuse(request, site, write=False)
        if refused is not None:
            return refused
        listing = jobs.version(request.query_params.get("version"))
        if listing is None:
            return _error(409, _CHANGED)
        try:
            review = load_review(site.output_dir)
        except BackdropError as error:
            return _error(503, _diagnostics(error))
        images = {
            key: jobs.images.get(key) or images_on_disk(site.output_dir, job)
            for key, job in zip(listing.keys, listing.jobs, strict=True)
        }
        return JSONResponse(
            index_json(listing, review, images, site.page_size), headers=_SECURITY_HEADERS
        )

    def cards(request: Request) -> Response:
        refused = _refuse(request, site, write=False)
        if refused is not None:
            return refused
        listing = jobs.version(request.query_params.get("version"))
        if listing is None:
            return _error(409, _CHANGED)
        try:
            positions = _positions(request.query_params.get("at", ""), len(listing.jobs))
        except ValueError as problem:
            return _error(400, str(problem))
        try:
            review = load_review(site.output_dir)
        except BackdropError as error:
            return _error(503, _diagnostics(error))
        answer = {
            "jobs": cards_json(listing, positions, review, urls),
            "counts": count_statuses(review, jobs.images),
        }
        return JSONResponse(answer, headers=_SECURITY_HEADERS)

    def file(request: Request) -> Response:
        refused = _refuse(request, site, write=False)
        if refused is not None:
            return refused
        found = _inside(site.output_dir, request.path_params["path"])
        if found is None:
            return _error(404, "no such image in this output folder")
        path, data = found
        expected = request.query_params.get("sha256")
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            # Replaced since the page was built: never show bytes the decision would not be on.
            return _error(409, "this image was replaced since the page was loaded: reload it")
        media_type = IMAGE_TYPES[path.suffix.lower()]
        return Response(data, media_type=media_type, headers=_SECURITY_HEADERS)

    async def decide(request: Request) -> Response:
        refused = _refuse(request, site, write=True)
        if refused is not None:
            return refused
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, "the request is too large")
        return await run_in_threadpool(_decide, site, jobs, body)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/api/index", index, methods=["GET"]),
        Route("/api/jobs", cards, methods=["GET"]),
        Route("/files/{path:path}", file, methods=["GET"]),
        Route("/api/decision", decide, methods=["POST"]),
    ]
    return Starlette(routes=routes)


_CHANGED = "the run changed since this page was loaded: reload the page"


def _diagnostics(error: BackdropError) -> str:
    return "\n".join(d.render() for d in error.diagnostics())


def _positions(text: str, total: int) -> list[int]:
    """`at=0,1,2` as positions in a listing of `total` jobs; ValueError when it is not that."""
    parts = text.split(",") if text else []
    if len(parts) > MAX_CARDS:
        raise ValueError(f"at most {MAX_CARDS} jobs at a time")
    positions = []
    for part in parts:
        if not (part.isascii() and part.isdigit() and len(part) <= 9 and int(part) < total):
            raise ValueError(f"at: the positions of jobs, 0 to {total - 1}, separated by commas")
        positions.append(int(part))
    return positions


@dataclass(frozen=True)
class _Change:
    """One decision as the page sent it."""

    key: str
    outputs: tuple[str, ...]
    action: str
    note: str
    pick: int | None
    images: tuple[str, ...]  # the SHA-256 of the variants the page showed

    def apply(self, decision: Decision, now: tuple[str | None, ...]) -> Decision:
        """The new decision, made on `now` (the job's images at this moment)."""
        if binding(decision, now) == "replaced":
            decision = decision.released(DEFAULT_REASON)  # kept in history, as a run does
        if self.action == "pending":
            return with_status(decision, "pending")
        if self.images != tuple(sha for sha in now if sha):  # the variants the page shows
            raise DecisionRefused(
                "this job's images were replaced since the page was loaded: reload the page "
                "and look at them again"
            )
        several = len(self.outputs) > 1
        if self.action == "pick":
            return replace(decision, pick=self.pick) if several else decision
        if self.action == "reject":
            return with_status(decision, "rejected", self.note, self.images)
        if not all(now):
            raise DecisionRefused(
                "this job does not have all its images yet: run the recipe, then approve it"
            )
        pick = self.pick if self.pick is not None else decision.pick
        if several and pick is None:
            raise DecisionRefused(
                f"pick the variant to deliver first (1 to {len(self.outputs)}), then approve"
            )
        return replace(with_status(decision, "approved", images=self.images), pick=pick)


def _decide(site: ReviewSite, jobs: Listings, body: bytes) -> Response:
    """Apply one decision; blocking (file lock, fsync), so it runs in a worker thread."""
    try:
        data = json.loads(body)
        outputs = jobs.current(data.get("job") if isinstance(data, dict) else None)
        change = _parse_change(data, outputs)
    except BackdropError as error:
        return _error(409, error.message)
    except (ValueError, TypeError, KeyError, RecursionError) as problem:
        return _error(400, str(problem) or "the request is not understood")
    seen: list[tuple[str | None, ...]] = []

    def decide(review: Review) -> Review:
        # Under review.yaml's lock: a run's release of replaced decisions waits for it.
        now = site.images_now(change.key, change.outputs)
        seen[:] = [now]
        return review.with_decision(change.key, change.apply(review.decision(change.key), now))

    try:
        # Re-read, apply this one change, write: decisions saved meanwhile by another page
        # or a run are kept.
        review = update_review(site.output_dir, decide)
    except BackdropError as error:
        return _error(409, error.message)
    jobs.images[change.key] = seen[0]
    decision = review.decision(change.key)
    answer = {
        "job": change.key,
        "status": decision.status,
        "pick": decision.pick,
        "note": decision.note,
        "take": decision.take,
        "counts": count_statuses(review, jobs.images),
    }
    return JSONResponse(answer, headers=_SECURITY_HEADERS)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=_SECURITY_HEADERS)


def _refuse(request: Request, site: ReviewSite, *, write: bool) -> Response | None:
    """The answer that refuses this request, or None when it may go on."""
    if request.headers.get("host", "") not in site.hosts:
        return _error(403, "this page is served for 127.0.0.1 only")
    if write:
        if request.headers.get("origin", "") not in site.origins:
            return _error(403, "decisions can only be sent from the review page itself")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "decisions are sent as JSON")
        given = request.headers.get(TOKEN_HEADER, "")
    else:
        given = request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode("utf-8"), site.token.encode("utf-8")):
        return _error(403, "this link is missing its token: open the URL `backdrop review` printed")
    return None


def _parse_change(data: Any, jobs: Mapping[str, tuple[str, ...]]) -> _Change:
    if not isinstance(data, dict):
        raise ValueError("the request must be a JSON object")
    key, action = data.get("job"), data.get("action")
    if not isinstance(key, str) or key not in jobs:
        raise ValueError("this job is not in the output folder's last run")
    if action not in ACTIONS:
        raise ValueError("the action must be approve, reject, pending or pick")
    outputs = jobs[key]
    pick = data.get("pick")
    if pick is not None or action == "pick":
        if isinstance(pick, bool) or not isinstance(pick, int) or not 1 <= pick <= len(outputs):
            raise ValueError(f"this job has variants 1 to {len(outputs)}")
        if len(outputs) < 2:
            pick = None  # its only image is the pick already
    images = data.get("images", [])
    if action != "pending" and (
        not isinstance(images, list)
        or len(images) > MAX_VARIANTS
        or not all(isinstance(sha, str) and len(sha) <= 64 for sha in images)
    ):
        raise ValueError("images: the SHA-256 of each variant shown, as the page sends them")
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"a note is text of at most {MAX_NOTE_CHARS} characters")
    note = note.strip()
    note.encode("utf-8")  # a lone surrogate cannot be saved: UnicodeEncodeError is a ValueError
    shown = tuple(images) if action != "pending" else ()
    return _Change(key, outputs, action, note, pick, shown)


def _inside(root: Path, relative: str) -> tuple[Path, bytes] | None:
    """An image file inside `root` and its bytes; None for anything else (symlinks out too)."""
    if "\x00" in relative or "\\" in relative:
        return None
    try:
        path = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or path.suffix.lower() not in IMAGE_TYPES:
        return None
    try:
        # O_NOFOLLOW: a file swapped for a symlink after resolving is refused, not followed.
        fd = os.open(path, os.O_RDONLY | O_BINARY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not os.path.isfile(path):
            return None
        return path, handle.read()
