"""Shared test setup: every test runs with a clean, isolated environment."""

from __future__ import annotations

import functools
import os
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    _share_tls_contexts()


_CREATE_SSL_CONTEXT = "create_ssl_context"  # what httpx's transports call, by this name


def _share_tls_contexts() -> None:
    # Every httpx client, even one for http:// on loopback (httpx.get, httpx.Client() in the
    # tests' helpers), loads certifi's CA bundle into a new TLS context: 30 ms of CPU, ~1,000
    # times a suite. The tests never check certificates; one context per kind serves them all
    # (backdrop's own client shares one too: runner/api/client.py's tls_context).
    from httpx._transports import default

    create = getattr(default, _CREATE_SSL_CONTEXT, None)
    if create is None:  # another httpx: each client builds its own, as it would anyway
        return

    @functools.cache
    def shared(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        context: ssl.SSLContext = create(verify=verify, cert=cert, trust_env=trust_env)
        return context

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if isinstance(verify, bool) and cert is None:
            return shared(verify, None, trust_env)
        return create(verify=verify, cert=cert, trust_env=trust_env)

    setattr(default, _CREATE_SSL_CONTEXT, create_ssl_context)


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
