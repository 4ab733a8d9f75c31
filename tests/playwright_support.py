"""Headless Chromium through Playwright, on the system's browser (no browser download here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Debian's headless shell first: Playwright's own choice for headless runs, and half the CPU of
# the full browser per test module (scripts/ensure-chromium.sh installs it).
SYSTEM_CHROMIUMS = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--allow-file-access-from-files",
)


def find_chromium() -> str | None:
    for path in SYSTEM_CHROMIUMS:
        if os.access(path, os.X_OK):
            return path
    for name in (
        "chromium-headless-shell",
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium for a test module; skips with the reason when there is none."""
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            f"Chromium is not installed at {' or '.join(SYSTEM_CHROMIUMS)} "
            "(run `bash scripts/ensure-chromium.sh`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()
