"""report.html in a real headless Chromium, opened from disk: images, filters, inert scripts.

Driven through Playwright on the system's Chromium (tests/playwright_support.py). `make test`
installs Debian's chromium-headless-shell through scripts/ensure-chromium.sh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from runner.report.writer import write_reports
from tests.playwright_support import chromium
from tests.report_snapshots import SCRIPT, build_snapshot, campaign_specs, make_sources

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

VISIBLE_JOBS = """() => [...document.querySelectorAll('.job')]
  .filter(job => job.getClientRects().length > 0).map(job => job.dataset.status)"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, Path]]:
    with chromium() as browser:
        root = tmp_path_factory.mktemp("browser")
        out = root / "out"
        specs = campaign_specs()
        specs[9].status = "failed"
        specs[9].error = "Server error (504): the generation took too long"
        snapshot = build_snapshot(out, make_sources(root / "src"), specs)
        yield browser, write_reports(snapshot, out).html


@pytest.fixture
def page(report: tuple[Browser, Path]) -> Iterator[tuple[Page, list[Any]]]:
    """A freshly loaded report for each test, with the dialogs it tried to open."""
    browser, html = report
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    dialogs: list[Any] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(html.as_uri())
    try:
        yield page, dialogs
    finally:
        context.close()


def test_thumbnails_and_originals_render(page: tuple[Page, list[Any]]) -> None:
    tab, _ = page
    widths = tab.evaluate(
        """async () => {
          const images = [...document.images];
          for (const image of images) {
            image.scrollIntoView();
            if (!image.complete) {
              await new Promise(done => {
                image.addEventListener('load', done, {once: true});
                image.addEventListener('error', done, {once: true});
                setTimeout(done, 10000);
              });
            }
          }
          window.scrollTo(0, 0);
          return images.map(image => [image.getAttribute('src'), image.naturalWidth]);
        }"""
    )
    assert len(widths) == 13  # 11 result images (n = 2 once, 2 failed jobs) and 2 originals
    assert all(width > 0 for _, width in widths), widths


def test_status_filter_shows_only_failed_jobs(page: tuple[Page, list[Any]]) -> None:
    tab, _ = page
    assert tab.evaluate("document.getElementById('filters').hidden") is False
    tab.click('[data-filter="status"] button[data-value="failed"]')
    assert tab.evaluate(VISIBLE_JOBS) == ["failed", "failed"]
    assert tab.text_content("#showing") == "Showing 2 of 12 jobs"
    tab.click('[data-filter="status"] button[data-value="all"]')
    assert len(tab.evaluate(VISIBLE_JOBS)) == 12


def test_axis_filter_combines_with_status(page: tuple[Page, list[Any]]) -> None:
    tab, _ = page
    labels = tab.evaluate(
        """() => [...document.querySelectorAll('[data-filter="axis"]')].map(row =>
             [row.querySelector('span').textContent,
              [...row.querySelectorAll('button')].map(b => b.textContent)])"""
    )
    season = dict(labels)["season"]
    spring = season.index("spring")
    axis = [name for name, _ in labels].index("season")
    # Buttons: "All", then one per value; data-value is the value's position.
    tab.click(f'[data-filter="axis"][data-axis="{axis}"] button[data-value="{spring - 1}"]')
    assert tab.evaluate(VISIBLE_JOBS) == ["done", "failed", "done"]  # one has a planted season
    tab.click('[data-filter="status"] button[data-value="failed"]')
    assert tab.evaluate(VISIBLE_JOBS) == ["failed"]  # the one failed spring job
    hidden_rows = tab.evaluate(
        "() => [...document.querySelectorAll('tbody tr')].filter(r => r.hidden).length"
    )
    assert hidden_rows > 0  # rows without a visible job fold away
    tab.click(f'[data-filter="axis"][data-axis="{axis}"] button[data-value="all"]')
    tab.click('[data-filter="status"] button[data-value="all"]')
    assert len(tab.evaluate(VISIBLE_JOBS)) == 12


def test_planted_scripts_stay_inert_text(page: tuple[Page, list[Any]]) -> None:
    tab, dialogs = page
    assert tab.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert tab.evaluate("document.scripts.length") == 1
    tab.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    text = tab.inner_text("body")
    assert f"summer {SCRIPT}" in text  # the matrix value, visible as text
    assert f"mug {SCRIPT} on a table" in text  # the prompt, visible as text


def test_without_javascript_everything_is_shown(report: tuple[Browser, Path]) -> None:
    browser, html = report
    context = browser.new_context(java_script_enabled=False)
    try:
        tab = context.new_page()
        tab.goto(html.as_uri())
        assert len(tab.evaluate(VISIBLE_JOBS)) == 12
        # Filters that cannot work are not offered.
        assert tab.locator("#filters").is_hidden()
    finally:
        context.close()
