#!/usr/bin/env bash
# Install Debian's chromium-headless-shell for the browser tests (report.html, the review page)
# when missing. It is the engine Playwright itself runs for headless tests: the same Blink as
# `chromium`, without the desktop browser around it, and about half the CPU per test module.
# The tests fall back to a full `chromium` when only that is installed.
# Never fails the build: without either, those tests are skipped with a clear reason.
if command -v chromium-headless-shell >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    if ! command -v chromium >/dev/null 2>&1; then
        echo "note: chromium is not installed; the browser tests will be skipped." >&2
    fi
    exit 0
fi
echo "Installing chromium-headless-shell for the browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium-headless-shell; } >/dev/null 2>&1; then
    if ! command -v chromium >/dev/null 2>&1; then
        echo "note: chromium could not be installed; the browser tests will be skipped." >&2
    fi
fi
exit 0
