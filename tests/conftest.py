"""Shared test setup: every test runs with a clean, isolated environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A developer's real key or URLs must never leak into a test (or a test's output).
    # Nor may a CI's GitHub variables turn on annotations and job summaries in every test.
    for name in (
        "ONEMIN_API_KEY",
        "ONEMIN_API_URL",
        "ONEMIN_ASSET_URL",
        "BACKDROP_DEBUG",
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_WORKSPACE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield
