"""The review page's HTML: a shell (title, counts, filters, the card templates) and its script.

The jobs are not in the HTML: the script fetches them as JSON (listing.py), a page of cards at a
time, and fills the templates with textContent and setAttribute only, so a recipe's text is never
markup. The shell comes from templates/review.html.j2 with autoescaping on; only the page's own
stylesheet and script are marked `|safe`, and the CSP lets nothing else run.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from runner.review.decision_model import Review, orphaned
from runner.review.listing import (
    REVIEW_STATUS_NAMES,
    FilterRow,
    Listing,
)
from runner.templating.pages import page_template


@dataclass(frozen=True)
class ReviewPage:
    title: str
    version: str  # the listing's: the script asks for the jobs of this one
    total: int
    filters: tuple[FilterRow, ...]
    counts: Mapping[str, int]
    orphans: tuple[str, ...]


def build_page(listing: Listing, review: Review, counts: Mapping[str, int]) -> ReviewPage:
    return ReviewPage(
        title=listing.title,
        version=listing.version,
        total=len(listing.jobs),
        filters=listing.filters,
        counts=counts,
        orphans=orphaned(review, listing.keys),
    )


def render_page(page: ReviewPage) -> str:
    style, script = _asset("review.css"), _asset("review.js")
    return page_template("runner.review", "review.html.j2").render(
        page=page, style=style, script=script, review_names=REVIEW_STATUS_NAMES
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
