#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (report.html, the review page), when missing.
# Never fails the build: without chromium, those tests are skipped with a clear reason.
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: chromium is not installed; the browser tests will be skipped." >&2
    exit 0
fi
echo "Installing chromium for the browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1; then
    echo "note: chromium could not be installed; the browser tests will be skipped." >&2
fi
exit 0
