"""report.html in a real headless Chromium, opened from disk: images, filters, inert scripts.

Driven over the Chrome DevTools Protocol on a pipe (tests/browser_cdp.py), so that nothing but
Debian's `chromium` is needed. `make test` installs it through scripts/ensure-chromium.sh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.report import write_reports
from tests.browser_cdp import Browser, find_chromium
from tests.report_snapshots import SCRIPT, build_snapshot, campaign_specs, make_sources

pytestmark = pytest.mark.browser

CHROMIUM = find_chromium()

VISIBLE_JOBS = """[...document.querySelectorAll('.job')]
  .filter(job => job.getClientRects().length > 0).map(job => job.dataset.status)"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, Path]]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (run `bash scripts/ensure-chromium.sh`)")
    root = tmp_path_factory.mktemp("browser")
    out = root / "out"
    specs = campaign_specs()
    specs[9].status = "failed"
    specs[9].error = "Server error (504): the generation took too long"
    snapshot = build_snapshot(out, make_sources(root / "src"), specs)
    html = write_reports(snapshot, out).html
    browser = Browser(CHROMIUM, root / "profile")
    try:
        browser.open_page()
        yield browser, html
    finally:
        browser.close()


@pytest.fixture
def page(chromium: tuple[Browser, Path]) -> tuple[Browser, Path]:
    """A freshly loaded report for each test; events from earlier tests are kept for the checks."""
    browser, html = chromium
    browser.navigate(html.as_uri())
    return browser, html


def test_thumbnails_and_originals_render(page) -> None:
    browser, _ = page
    widths = browser.evaluate(
        """(async () => {
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
        })()"""
    )
    assert len(widths) == 13  # 11 result images (n = 2 once, 2 failed jobs) and 2 originals
    assert all(width > 0 for _, width in widths), widths


def test_status_filter_shows_only_failed_jobs(page) -> None:
    browser, _ = page
    assert browser.evaluate("document.getElementById('filters').hidden") is False
    browser.click('[data-filter="status"] button[data-value="failed"]')
    assert browser.evaluate(VISIBLE_JOBS) == ["failed", "failed"]
    assert browser.evaluate("document.getElementById('showing').textContent") == (
        "Showing 2 of 12 jobs"
    )
    browser.click('[data-filter="status"] button[data-value="all"]')
    assert len(browser.evaluate(VISIBLE_JOBS)) == 12


def test_axis_filter_combines_with_status(page) -> None:
    browser, _ = page
    labels = browser.evaluate(
        """[...document.querySelectorAll('[data-filter="axis"]')].map(row =>
             [row.querySelector('span').textContent,
              [...row.querySelectorAll('button')].map(b => b.textContent)])"""
    )
    season = dict(labels)["season"]
    spring = season.index("spring")
    axis = [name for name, _ in labels].index("season")
    # Buttons: "All", then one per value; data-value is the value's position.
    browser.click(f'[data-filter="axis"][data-axis="{axis}"] button[data-value="{spring - 1}"]')
    statuses = browser.evaluate(VISIBLE_JOBS)
    assert statuses == ["done", "failed", "done"]  # the spring jobs (one has a planted season)
    browser.click('[data-filter="status"] button[data-value="failed"]')
    assert browser.evaluate(VISIBLE_JOBS) == ["failed"]  # the one failed spring job
    hidden_rows = browser.evaluate(
        "[...document.querySelectorAll('tbody tr')].filter(r => r.hidden).length"
    )
    assert hidden_rows > 0  # rows without a visible job fold away
    browser.click(f'[data-filter="axis"][data-axis="{axis}"] button[data-value="all"]')
    browser.click('[data-filter="status"] button[data-value="all"]')
    assert len(browser.evaluate(VISIBLE_JOBS)) == 12


def test_planted_scripts_stay_inert_text(page) -> None:
    browser, _ = page
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    dialogs = [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]
    assert dialogs == []
    assert browser.evaluate("document.scripts.length") == 1
    browser.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    text = browser.evaluate("document.body.innerText")
    assert f"summer {SCRIPT}" in text  # the matrix value, visible as text
    assert f"mug {SCRIPT} on a table" in text  # the prompt, visible as text


def test_without_javascript_everything_is_shown(page) -> None:
    browser, html = page
    browser.call("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.navigate(html.as_uri())
        shown = browser.evaluate(VISIBLE_JOBS)
        assert len(shown) == 12
        assert (
            browser.evaluate("getComputedStyle(document.getElementById('filters')).display")
            == "none"
        )  # filters that cannot work are not offered
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", {"value": False})
