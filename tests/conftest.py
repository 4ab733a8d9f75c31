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


# The longest files, in seconds of wall time under `make unit` on 2 cores, started first: with
# `--no-loadscope-reorder` xdist hands out files in collection order, and a long file collected
# last would run alone at the end.
LONGEST_FIRST = (
    "test_run_signals.py",  # 25 s, mostly waiting on signalled children
    "test_example_run_cancel.py",  # 20 s, waiting on a cancelled step's signals and generations
    "test_cli_run.py",  # 14 s
    "test_git_quiet.py",  # 15 s: a dozen emulated runs through the CLI
    "test_injection_e2e.py",  # 12 s: a run in a pseudo-terminal, review in a child process
    "test_portable.py",  # 20 s: a campaign, then Ctrl-C, in children restricted as on Windows
    "test_fuzz_front_end.py",  # 12 s, all CPU
    "test_plan_diff_e2e.py",
    "test_disk_full.py",
    "test_run_faults.py",
    "test_review_app.py",
    "test_browser_review.py",
    "test_export.py",
    "test_examples_github.py",
    "test_emulator_compositor.py",
    "test_emulator_persist.py",
    "test_run_failures.py",
    "test_review_loop_e2e.py",
    "test_emulator_server.py",
    "test_run_basic.py",
    "test_browser_report.py",
    "test_prune.py",
    "test_properties.py",
    "test_run_interrupt.py",
    "test_template_fuzz.py",
    "test_review_decisions.py",
)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's example campaign, copied to tmp_path/campaign, with tmp_path as cwd."""
    folder = tmp_path / "campaign"
    shutil.copytree(EXAMPLE, folder)
    monkeypatch.chdir(tmp_path)
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    # A stable sort: each file's tests keep their order, and the other files theirs.
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
