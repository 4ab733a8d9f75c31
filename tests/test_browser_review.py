"""The review page in real headless Chromium (Playwright): clicks, keys, reloads, other sites."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import REVIEW_NAME, load_review, save_review
from runner.review.review_server import ReviewServer
from tests.playwright_support import chromium
from tests.report_snapshots import SCRIPT, build_snapshot, campaign_specs, make_sources

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, ReviewServer]]:
    with chromium() as browser:
        root = tmp_path_factory.mktemp("review-browser")
        out = root / "out"
        snapshot = build_snapshot(out, make_sources(root / "src"), campaign_specs())
        with ReviewServer(out, lambda: snapshot) as server:
            yield browser, server


@pytest.fixture
def page(site: tuple[Browser, ReviewServer]) -> Iterator[tuple[Page, ReviewServer, list[Any]]]:
    """A fresh review (no review.yaml) in a fresh tab, with the dialogs it tried to open."""
    browser, server = site
    (server.output_dir / REVIEW_NAME).unlink(missing_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    dialogs: list[Any] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(server.url)
    ready(tab)
    try:
        yield tab, server, dialogs
    finally:
        context.close()


def ready(tab: Page) -> None:
    """Wait until the page has drawn its jobs and chosen one (keys do nothing before)."""
    from playwright.sync_api import expect

    expect(tab.locator("#jobs")).to_have_attribute("aria-busy", "false")


def job(tab: Page, key: str) -> Locator:
    return tab.locator(f'[data-job="{key}"]')


def saved(server: ReviewServer) -> dict[str, Decision]:
    return dict(load_review(server.output_dir).decisions)


def shown(server: ReviewServer, key: str) -> tuple[str, ...]:
    """The SHA-256 of the job's images on the page: what a decision made there is on."""
    job = next(j for j in server.load_snapshot().jobs if review_key(j.outputs) == key)
    return tuple(f.sha256 for f in job.files)


def test_pick_approve_reject_with_a_note_and_reload(
    page: tuple[Page, ReviewServer, list[Any]],
) -> None:
    from playwright.sync_api import expect

    tab, server, _ = page
    first, fourth = job(tab, "job-000"), job(tab, "job-003")
    first.get_by_role("button", name="Pick variant 2").click()
    expect(first.get_by_role("button", name="Pick variant 2")).to_have_attribute(
        "aria-pressed", "true"
    )
    first.get_by_role("button", name="Approve", exact=True).click()
    expect(first).to_have_attribute("data-status", "approved")
    single = fourth.get_by_role("button", name="Pick variant 1")  # n = 1: already the pick
    expect(single).to_have_attribute("aria-pressed", "true")
    fourth.get_by_label("Note").fill("too dark")
    fourth.get_by_role("button", name="Reject", exact=True).click()
    expect(fourth).to_have_attribute("data-status", "rejected")
    expect(tab.locator('[data-count="approved"]')).to_have_text("1")
    expect(tab.locator('[data-count="rejected"]')).to_have_text("1")
    expect(tab.locator('[data-count="pending"]')).to_have_text("10")
    assert saved(server) == {
        "job-000": Decision("approved", pick=2, sha256=shown(server, "job-000")),
        "job-003": Decision("rejected", note="too dark", sha256=shown(server, "job-003")),
    }
    tab.reload()
    expect(first).to_have_attribute("data-status", "approved")
    expect(first.get_by_role("button", name="Pick variant 2")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(first.get_by_role("button", name="Pick variant 1")).to_have_attribute(
        "aria-pressed", "false"
    )
    expect(fourth.get_by_label("Note")).to_have_value("too dark")
    expect(fourth.locator("[data-role=status]")).to_have_text("Rejected")
    fourth.get_by_role("button", name="Pending", exact=True).click()
    expect(fourth).to_have_attribute("data-status", "pending")
    assert saved(server)["job-003"] == Decision()
    text = (server.output_dir / REVIEW_NAME).read_text(encoding="utf-8")
    assert "job-000:\n    status: approved\n    pick: 2\n    sha256:\n      - " in text


def test_keyboard_shortcuts(page: tuple[Page, ReviewServer, list[Any]]) -> None:
    from playwright.sync_api import expect

    tab, server, _ = page
    # The first job is current when the page opens; j and k move, a r u 1-9 decide.
    tab.keyboard.press("2")
    expect(job(tab, "job-000").get_by_role("button", name="Pick variant 2")).to_have_attribute(
        "aria-pressed", "true"
    )
    tab.keyboard.press("a")
    expect(job(tab, "job-000")).to_have_attribute("data-status", "approved")
    tab.keyboard.press("j")
    tab.keyboard.press("j")
    tab.keyboard.press("r")
    expect(job(tab, "job-002")).to_have_attribute("data-status", "rejected")
    tab.keyboard.press("j")
    tab.keyboard.press("j")
    tab.keyboard.press("k")
    tab.keyboard.press("a")
    expect(job(tab, "job-003")).to_have_attribute("data-status", "approved")
    tab.keyboard.press("u")
    expect(job(tab, "job-003")).to_have_attribute("data-status", "pending")
    # Typing a note does not trigger shortcuts; Enter in the note rejects with it.
    note = job(tab, "job-003").get_by_label("Note")
    note.fill("a wrong season")
    note.press("Enter")
    expect(job(tab, "job-003")).to_have_attribute("data-status", "rejected")
    assert saved(server) == {
        "job-000": Decision("approved", pick=2, sha256=shown(server, "job-000")),
        "job-002": Decision("rejected", sha256=shown(server, "job-002")),
        "job-003": Decision("rejected", note="a wrong season", sha256=shown(server, "job-003")),
    }


def test_approve_takes_the_variant_in_view_or_asks_for_one(
    page: tuple[Page, ReviewServer, list[Any]],
) -> None:
    """Issue 15: Approve on a job with several variants never saves `approved` without a pick."""
    from playwright.sync_api import expect

    tab, server, _ = page
    first = job(tab, "job-000")  # n = 2, nothing picked yet; current when the page opens
    first.get_by_role("button", name="Approve", exact=True).click()
    expect(tab.locator("#message")).to_have_text(
        "Pick the variant to deliver first: click it, or press 1–2, then approve."
    )
    expect(first).to_have_class(re.compile(r"\bneeds-pick\b"))
    tab.keyboard.press("a")  # the key asks the same
    expect(first).to_have_attribute("data-status", "pending")
    assert not (server.output_dir / REVIEW_NAME).exists()  # nothing was sent, nothing saved
    first.get_by_role("button", name="Pick variant 2").click()
    expect(first.get_by_role("button", name="Pick variant 2")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(first).not_to_have_class(re.compile(r"\bneeds-pick\b"))
    first.get_by_role("button", name="Approve", exact=True).click()
    expect(first).to_have_attribute("data-status", "approved")
    assert saved(server) == {
        "job-000": Decision("approved", pick=2, sha256=shown(server, "job-000"))
    }


def test_an_approval_of_other_images_shows_as_pending_until_approved_again(
    page: tuple[Page, ReviewServer, list[Any]],
) -> None:
    from playwright.sync_api import expect

    tab, server, _ = page
    # An approval of images this job no longer has (replaced by a run, or by hand).
    stale = Decision("approved", pick=2, sha256=("0" * 64, "1" * 64))
    save_review(
        server.output_dir,
        Review({"job-003": Decision("approved", sha256=("0" * 64,)), "job-000": stale}),
    )
    tab.reload()
    # A pick made on other images is not carried onto these: Approve asks for one.
    first = job(tab, "job-000")
    expect(first.get_by_role("button", name="Pick variant 2")).to_have_attribute(
        "aria-pressed", "false"
    )
    first.get_by_role("button", name="Approve", exact=True).click()
    expect(first).to_have_class(re.compile(r"\bneeds-pick\b"))
    fourth = job(tab, "job-003")
    expect(fourth).to_have_attribute("data-status", "pending")
    expect(fourth.locator("[data-role=status]")).to_have_text("Pending review")
    expect(fourth.locator("[data-role=notice]")).to_contain_text("replaced since")
    expect(tab.locator('[data-count="approved"]')).to_have_text("0")
    fourth.get_by_role("button", name="Approve", exact=True).click()
    expect(fourth).to_have_attribute("data-status", "approved")
    expect(fourth.locator("[data-role=notice]")).to_be_hidden()
    assert saved(server)["job-000"] == stale  # nothing was sent for it
    decision = saved(server)["job-003"]
    assert decision.sha256 == shown(server, "job-003")
    assert [(h.status, h.reason) for h in decision.history] == [
        ("approved", "its images were replaced")
    ]


def test_filters_by_review_status_and_axis(page: tuple[Page, ReviewServer, list[Any]]) -> None:
    from playwright.sync_api import expect

    tab, _, _ = page
    job(tab, "job-004").get_by_role("button", name="Reject", exact=True).click()
    expect(job(tab, "job-004")).to_have_attribute("data-status", "rejected")
    review = tab.locator('[data-filter="review"]')
    review.get_by_role("button", name="Rejected").click()
    expect(tab.locator("[data-job]:visible")).to_have_count(1)
    expect(tab.locator("#showing")).to_have_text("Showing 1 of 12 jobs")
    review.get_by_role("button", name="Pending review").click()
    expect(tab.locator("[data-job]:visible")).to_have_count(11)
    season = tab.locator('[data-filter="axis"]', has_text="season")
    season.get_by_role("button", name="spring", exact=True).click()
    expect(tab.locator("[data-job]:visible")).to_have_count(3)  # one has a planted season
    review.get_by_role("button", name="All", exact=True).click()
    season.get_by_role("button", name="All", exact=True).click()
    expect(tab.locator("[data-job]:visible")).to_have_count(12)


def test_planted_scripts_stay_inert_text(page: tuple[Page, ReviewServer, list[Any]]) -> None:
    tab, _, dialogs = page
    assert tab.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert tab.evaluate("document.scripts.length") == 1
    assert f"summer {SCRIPT}" in tab.inner_text("body")


@pytest.fixture
def other_site() -> Iterator[str]:
    """Another web page on this machine (another port is another origin), as a CSRF source."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><p>another site</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_a_write_from_another_site_is_refused(
    page: tuple[Page, ReviewServer, list[Any]], other_site: str
) -> None:
    tab, server, _ = page
    tab.goto(f"{other_site}/")
    url = f"{server.base_url}/api/decision"
    images = ", ".join(f'"{sha}"' for sha in shown(server, "job-003"))
    body = f'{{"job": "job-003", "action": "approve", "images": [{images}]}}'
    post = """([url, body]) => fetch(url, {method: "POST", mode: "no-cors", body: body,
                headers: {"Content-Type": "text/plain"}}).then(() => "sent", () => "sent")"""
    with tab.expect_response(url) as answer:
        # A "simple" request (no preflight), so it reaches the server with the foreign Origin.
        tab.evaluate(post, [url, body])
    assert answer.value.status == 403
    # The same request with the token from the page's own origin is accepted: what refused
    # the other site was where it came from (tests/test_review_app.py isolates each check).
    tab.goto(server.url)
    with tab.expect_response(url) as answer:
        tab.evaluate(
            """([url, body, token]) => fetch(url, {method: "POST", body: body,
                 headers: {"Content-Type": "application/json", "X-Backdrop-Token": token}})""",
            [url, body, server.token],
        )
    assert answer.value.status == 200
    assert saved(server) == {"job-003": Decision("approved", sha256=shown(server, "job-003"))}
    (server.output_dir / REVIEW_NAME).unlink()
    tab.goto(f"{other_site}/")
    result = tab.evaluate(
        """([url, body, token]) => fetch(url, {method: "POST", body: body,
             headers: {"Content-Type": "application/json", "X-Backdrop-Token": token}})
             .then(r => "status " + r.status, e => "blocked")""",
        [url, body, server.token],
    )
    assert result == "blocked"  # even a leaked token is no use from another site
    assert not (server.output_dir / REVIEW_NAME).exists()


def test_a_page_without_its_token_shows_nothing(site: tuple[Browser, ReviewServer]) -> None:
    browser, server = site
    context = browser.new_context()
    try:
        tab = context.new_page()
        answer = tab.goto(f"{server.base_url}/")
        assert answer is not None and answer.status == 403
        assert tab.locator("[data-job]").count() == 0
    finally:
        context.close()


# --- pages: a small page size over the same campaign (jobs 0-4, 5-9, 10-11) -------------------

PAGE_SIZE = 5


@pytest.fixture(scope="module")
def paged_site(
    site: tuple[Browser, ReviewServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Browser, ReviewServer]]:
    browser, _ = site
    root = tmp_path_factory.mktemp("review-paged")
    specs = campaign_specs()
    specs[7].n = 3  # several variants on a later page
    snapshot = build_snapshot(root / "out", make_sources(root / "src"), specs)
    with ReviewServer(root / "out", lambda: snapshot, page_size=PAGE_SIZE) as server:
        yield browser, server


@pytest.fixture
def paged(paged_site: tuple[Browser, ReviewServer]) -> Iterator[tuple[Page, ReviewServer]]:
    browser, server = paged_site
    (server.output_dir / REVIEW_NAME).unlink(missing_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.goto(server.url)
    ready(tab)
    try:
        yield tab, server
    finally:
        context.close()


def on_page(tab: Page) -> list[str]:
    """The jobs drawn now, in order."""
    keys: list[str] = tab.evaluate(
        "[...document.querySelectorAll('[data-job]')].map(job => job.getAttribute('data-job'))"
    )
    return keys


def current(tab: Page) -> Locator:
    return tab.locator(".job.current")


def test_pages_reach_the_last_job_and_a_reload_keeps_the_page(
    paged: tuple[Page, ReviewServer],
) -> None:
    from playwright.sync_api import expect

    tab, _ = paged
    pages = tab.locator("[data-role=pages]").first
    expect(pages).to_have_text("Page 1 of 3 (jobs 1–5)")
    expect(tab.locator("#showing")).to_have_text("Showing 12 of 12 jobs")
    assert on_page(tab) == [f"job-{i:03d}" for i in range(5)]
    expect(tab.get_by_role("button", name="Previous page").first).to_be_disabled()
    tab.get_by_role("button", name="Next page").first.click()
    expect(pages).to_have_text("Page 2 of 3 (jobs 6–10)")
    expect(job(tab, "job-005")).to_be_visible()
    assert on_page(tab) == [f"job-{i:03d}" for i in range(5, 10)]
    tab.keyboard.press("n")  # the key for the next page
    expect(pages).to_have_text("Page 3 of 3 (jobs 11–12)")
    expect(current(tab)).to_have_attribute("data-job", "job-010")
    assert on_page(tab) == ["job-010", "job-011"]
    expect(tab.get_by_role("button", name="Next page").last).to_be_disabled()
    tab.reload()  # back where it was, for a review that goes on after a run
    ready(tab)
    expect(pages).to_have_text("Page 3 of 3 (jobs 11–12)")
    expect(job(tab, "job-011")).to_be_visible()
    tab.keyboard.press("p")
    expect(pages).to_have_text("Page 2 of 3 (jobs 6–10)")


def test_keys_cross_page_boundaries(paged: tuple[Page, ReviewServer]) -> None:
    from playwright.sync_api import expect

    tab, server = paged
    expect(current(tab)).to_have_attribute("data-job", "job-000")
    for _ in range(4):
        tab.keyboard.press("j")
    expect(current(tab)).to_have_attribute("data-job", "job-004")
    tab.keyboard.press("j")  # past the end of page 1: the first job of page 2
    expect(current(tab)).to_have_attribute("data-job", "job-005")
    expect(tab.locator("[data-role=pages]").first).to_have_text("Page 2 of 3 (jobs 6–10)")
    tab.keyboard.press("r")
    expect(job(tab, "job-005")).to_have_attribute("data-status", "rejected")
    tab.keyboard.press("k")  # before the start of page 2: the last job of page 1
    expect(current(tab)).to_have_attribute("data-job", "job-004")
    expect(job(tab, "job-005")).to_have_count(0)
    tab.keyboard.press("a")
    expect(job(tab, "job-004")).to_have_attribute("data-status", "approved")
    assert saved(server) == {
        "job-004": Decision("approved", sha256=shown(server, "job-004")),
        "job-005": Decision("rejected", sha256=shown(server, "job-005")),
    }


def test_approve_reject_and_pick_on_a_later_page_are_saved(
    paged: tuple[Page, ReviewServer],
) -> None:
    from playwright.sync_api import expect

    tab, server = paged
    tab.get_by_role("button", name="Next page").first.click()
    several = job(tab, "job-007")  # n = 3
    several.get_by_role("button", name="Approve", exact=True).click()
    expect(several).to_have_class(re.compile(r"\bneeds-pick\b"))  # asks for a pick, as page 1
    several.get_by_role("button", name="Pick variant 3").click()
    expect(several.get_by_role("button", name="Pick variant 3")).to_have_attribute(
        "aria-pressed", "true"
    )
    several.get_by_role("button", name="Approve", exact=True).click()
    expect(several).to_have_attribute("data-status", "approved")
    eighth = job(tab, "job-008")
    eighth.get_by_label("Note").fill("wrong season")
    eighth.get_by_role("button", name="Reject", exact=True).click()
    expect(eighth).to_have_attribute("data-status", "rejected")
    expect(tab.locator('[data-count="approved"]')).to_have_text("1")
    expect(tab.locator('[data-count="rejected"]')).to_have_text("1")
    assert saved(server) == {
        "job-007": Decision("approved", pick=3, sha256=shown(server, "job-007")),
        "job-008": Decision("rejected", note="wrong season", sha256=shown(server, "job-008")),
    }
    # Drawn again from the server (another page and back): the decisions are there.
    tab.get_by_role("button", name="Previous page").first.click()
    expect(job(tab, "job-007")).to_have_count(0)
    tab.get_by_role("button", name="Next page").first.click()
    expect(job(tab, "job-007")).to_have_attribute("data-status", "approved")
    expect(job(tab, "job-007").get_by_role("button", name="Pick variant 3")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(job(tab, "job-008").get_by_label("Note")).to_have_value("wrong season")


def test_filters_and_counts_cover_every_page(paged: tuple[Page, ReviewServer]) -> None:
    from playwright.sync_api import expect

    tab, server = paged
    # Decisions on page 3, made elsewhere (another page, by hand): page 1 knows them.
    save_review(
        server.output_dir,
        Review(
            {
                "job-010": Decision("rejected", sha256=shown(server, "job-010")),
                "job-011": Decision("approved", sha256=("0" * 64,)),  # of other images
            }
        ),
    )
    tab.reload()
    ready(tab)
    expect(tab.locator('[data-count="rejected"]')).to_have_text("1")
    expect(tab.locator('[data-count="approved"]')).to_have_text("0")
    expect(tab.locator('[data-count="pending"]')).to_have_text("11")
    review = tab.locator('[data-filter="review"]')
    review.get_by_role("button", name="Rejected").click()
    expect(tab.locator("#showing")).to_have_text("Showing 1 of 12 jobs")
    expect(tab.locator("[data-job]:visible")).to_have_count(1)
    assert on_page(tab) == ["job-010"]
    expect(tab.locator(".pager").first).to_be_hidden()  # one page of them
    review.get_by_role("button", name="Pending review").click()
    expect(tab.locator("#showing")).to_have_text("Showing 11 of 12 jobs")
    expect(tab.locator("[data-role=pages]").first).to_have_text("Page 1 of 3 (jobs 1–5)")
    tab.keyboard.press("n")
    tab.keyboard.press("n")
    # The approval of other images shows as pending, with why, on its page.
    expect(job(tab, "job-011")).to_have_attribute("data-status", "pending")
    expect(job(tab, "job-011").locator("[data-role=notice]")).to_contain_text("replaced since")
    market = tab.locator('[data-filter="axis"]', has_text="market")
    market.get_by_role("button", name="ja-JP", exact=True).click()  # every other job
    expect(tab.locator("#showing")).to_have_text("Showing 6 of 12 jobs")  # job-011 too
    expect(tab.locator("[data-role=pages]").first).to_have_text("Page 1 of 2 (jobs 1–5)")
    assert on_page(tab) == ["job-001", "job-003", "job-005", "job-007", "job-009"]
    # Approved out of the filter: hidden, but the pages stay as they were.
    job(tab, "job-003").get_by_role("button", name="Approve", exact=True).click()
    expect(job(tab, "job-003")).to_be_hidden()
    expect(tab.locator("#showing")).to_have_text("Showing 5 of 12 jobs")
    expect(tab.locator('[data-count="approved"]')).to_have_text("1")
    job(tab, "job-009").click()
    tab.keyboard.press("j")
    expect(current(tab)).to_have_attribute("data-job", "job-011")
    expect(tab.locator("[data-role=pages]").first).to_have_text("Page 2 of 2 (job 6)")
