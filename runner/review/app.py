"""The review page's server: a small Starlette app that only this machine's browser may use.

Every request must carry the per-run token and name this server in `Host` (a DNS-rebinding page
names its own host); a write must also come from this server's own `Origin` (so another site
cannot post decisions: CSRF) with a JSON body. Files are served only from inside the output
folder, after resolving symlinks, and only images.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from runner.diagnostics import BackdropError
from runner.execute.records import RunSnapshot
from runner.review.decisions import Decision, load_review, update_review, with_status
from runner.review.page import (
    build_page,
    content_security_policy,
    count_statuses,
    job_sizes,
    render_page,
)

TOKEN_HEADER = "X-Backdrop-Token"
MAX_BODY_BYTES = 16 * 1024
MAX_NOTE_CHARS = 2000  # as schemas/review.schema.json
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
_ACTIONS: dict[str, Callable[[Decision, str], Decision]] = {
    "approve": lambda d, note: with_status(d, "approved"),
    "reject": lambda d, note: with_status(d, "rejected", note),
    "pending": lambda d, note: with_status(d, "pending"),
}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class ReviewSite:
    """What the app serves, and who may use it."""

    output_dir: Path  # absolute, resolved
    token: str
    origins: frozenset[str]  # e.g. http://127.0.0.1:8123 and http://localhost:8123
    load_snapshot: Callable[[], RunSnapshot]

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset(origin.removeprefix("http://") for origin in self.origins)


def loopback_origins(port: int) -> frozenset[str]:
    return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})


class _JobSizes:
    """The jobs a decision may name, and their n: read with each page, not with each click.

    Reading the whole run per click cost 0.4 s at 5,000 jobs. A page can only name the jobs it
    was built with, so refreshing at each page load (and for an unknown name) is enough.
    """

    def __init__(self, site: ReviewSite) -> None:
        self.site = site
        self.sizes: dict[str, int] | None = None

    def refresh(self, snapshot: RunSnapshot | None = None) -> dict[str, int]:
        self.sizes = job_sizes(snapshot or self.site.load_snapshot())
        return self.sizes

    def current(self, key: object) -> dict[str, int]:
        sizes = self.sizes
        if sizes is None or key not in sizes:
            sizes = self.refresh()
        return sizes


def create_review_app(site: ReviewSite) -> Starlette:
    jobs = _JobSizes(site)

    def page(request: Request) -> Response:  # sync: Starlette runs it in a worker thread
        refused = _refuse(request, site, write=False)
        if refused is not None:
            return refused
        try:
            snapshot = site.load_snapshot()
            jobs.refresh(snapshot)
            view = build_page(snapshot, load_review(site.output_dir), site.output_dir, site.token)
        except BackdropError as error:
            text = "\n".join(d.render() for d in error.diagnostics())
            return PlainTextResponse(text + "\n", status_code=503, headers=_SECURITY_HEADERS)
        headers = {**_SECURITY_HEADERS, "Content-Security-Policy": content_security_policy()}
        return HTMLResponse(render_page(view), headers=headers)

    def file(request: Request) -> Response:
        refused = _refuse(request, site, write=False)
        if refused is not None:
            return refused
        found = _inside(site.output_dir, request.path_params["path"])
        if found is None:
            return _error(404, "no such image in this output folder")
        path, data = found
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
        Route("/files/{path:path}", file, methods=["GET"]),
        Route("/api/decision", decide, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _decide(site: ReviewSite, jobs: _JobSizes, body: bytes) -> Response:
    """Apply one decision; blocking (file lock, fsync), so it runs in a worker thread."""
    try:
        data = json.loads(body)
        sizes = jobs.current(data.get("job") if isinstance(data, dict) else None)
        key, change = _parse_change(data, sizes)
    except BackdropError as error:
        return _error(409, error.message)
    except (ValueError, TypeError, KeyError, RecursionError) as problem:
        return _error(400, str(problem) or "the request is not understood")
    try:
        # Re-read, apply this one change, write: decisions saved meanwhile by another page
        # or a run are kept.
        review = update_review(
            site.output_dir, lambda r: r.with_decision(key, change(r.decision(key)))
        )
    except BackdropError as error:
        return _error(409, error.message)
    decision = review.decision(key)
    answer = {
        "job": key,
        "status": decision.status,
        "pick": decision.pick,
        "note": decision.note,
        "take": decision.take,
        "counts": count_statuses(review, list(sizes)),
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


def _parse_change(data: Any, sizes: dict[str, int]) -> tuple[str, Callable[[Decision], Decision]]:
    if not isinstance(data, dict):
        raise ValueError("the request must be a JSON object")
    key, action = data.get("job"), data.get("action")
    if not isinstance(key, str) or key not in sizes:
        raise ValueError("this job is not in the output folder's last run")
    if action == "pick":
        pick = data.get("pick")
        if isinstance(pick, bool) or not isinstance(pick, int) or not 1 <= pick <= sizes[key]:
            raise ValueError(f"this job has variants 1 to {sizes[key]}")
        if sizes[key] < 2:
            return key, lambda decision: decision  # its only image is the pick already
        return key, lambda decision: replace(decision, pick=pick)
    if action not in _ACTIONS:
        raise ValueError("the action must be approve, reject, pending or pick")
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"a note is text of at most {MAX_NOTE_CHARS} characters")
    note = note.strip()
    note.encode("utf-8")  # a lone surrogate cannot be saved: UnicodeEncodeError is a ValueError
    act = _ACTIONS[action]
    return key, lambda decision: act(decision, note)


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
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not os.path.isfile(path):
            return None
        return path, handle.read()
