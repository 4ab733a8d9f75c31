"""The review page's jobs read over HTTP as its script reads them: the shell, the index, cards."""

from __future__ import annotations

import re
from typing import Any

import httpx

from runner.review.review_server import ReviewServer


def page_version(server: ReviewServer, client: httpx.Client | None = None) -> str:
    """Load the page (the shell) and return the version of the listing it was built on."""
    html = (client or httpx).get(server.url).text
    found = re.search(r'<main id="jobs" data-version="([^"]*)"', html)
    assert found is not None, html[:2000]
    return found.group(1)


def api_get(server: ReviewServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", params={"token": server.token, **params})


def page_index(server: ReviewServer) -> dict[str, Any]:
    version = page_version(server)
    answer = api_get(server, "/api/index", version=version)
    assert answer.status_code == 200, answer.text
    index: dict[str, Any] = answer.json()
    return index


def page_jobs(server: ReviewServer) -> list[dict[str, Any]]:
    """Every job's card, in the page's order, fetched a page at a time as the script does."""
    index = page_index(server)
    jobs: list[dict[str, Any]] = []
    size = index["page_size"]
    for start in range(0, index["total"], size):
        at = ",".join(str(p) for p in range(start, min(index["total"], start + size)))
        answer = api_get(server, "/api/jobs", version=index["version"], at=at)
        assert answer.status_code == 200, answer.text
        jobs.extend(answer.json()["jobs"])
    return jobs


def shown_images(server: ReviewServer) -> dict[str, list[str]]:
    """Each job's images as the page shows them (its cards' sha256): what its script sends."""
    return {job["key"]: job["sha256"] for job in page_jobs(server)}
