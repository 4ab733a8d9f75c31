"""Shared test setup: every test runs with a clean, isolated environment."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.emulator.render_cache import ENV_VAR as RENDER_CACHE

EXAMPLE = Path(__file__).parent / "fixtures" / "example"


_OWN_CACHE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    # One render cache for the whole session, its xdist workers and every `backdrop run
    # --emulate` child (they inherit the environment): the suite's emulators render the same few
    # campaigns over and over, at ~100 ms of CPU per image (runner/emulator/render_cache.py).
    if RENDER_CACHE not in os.environ:
        folder = tempfile.mkdtemp(prefix="backdrop-test-renders-")
        os.environ[RENDER_CACHE] = folder
        config.stash[_OWN_CACHE] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_OWN_CACHE, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        del os.environ[RENDER_CACHE]


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


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's example campaign, copied to tmp_path/campaign, with tmp_path as cwd."""
    folder = tmp_path / "campaign"
    shutil.copytree(EXAMPLE, folder)
    monkeypatch.chdir(tmp_path)
    return folder
