#!/usr/bin/env bash
# Install Debian's chromium for the browser test of report.html, when it is missing.
# Never fails the build: without chromium, that one test is skipped with a clear reason.
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: chromium is not installed; the browser test of report.html will be skipped." >&2
    exit 0
fi
echo "Installing chromium for the browser test of report.html..." >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1; then
    echo "note: chromium could not be installed; the browser test of report.html will be skipped." >&2
fi
exit 0
