"""What `backdrop run` was asked, one frozen dataclass per group of options.

Apart from run.py, so that the steps of the run (run_steps.py) take them without importing the
command that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiOptions:
    """Where the run sends its requests: the real API, or the local emulator."""

    emulate: bool
    api_url: str
    asset_url: str


@dataclass(frozen=True)
class PacingOptions:
    """How fast and how stubbornly the run calls the API."""

    concurrency: int | None
    rpm: float | None
    max_attempts: int
    timeout: float
    drain_timeout: float | None


@dataclass(frozen=True)
class SelectionOptions:
    """Which jobs the run generates."""

    force: bool
    retry_failed: bool
    rejected: bool
    include_approved: bool
    only: tuple[str, ...]
    limit: int | None
    shard: str | None


@dataclass(frozen=True)
class SafetyOptions:
    """What the run may do without asking: spend, and delete stale images."""

    yes: bool
    confirm_over: float
    prune: bool


@dataclass(frozen=True)
class OutputOptions:
    """How the run reports: GitHub Actions output, the CSV separator."""

    fmt: str
    csv_separator: str
