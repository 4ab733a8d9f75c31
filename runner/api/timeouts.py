"""How long the client waits on the API, apart from the client: `plan` and `status` make run
options (runner/execute/run_options.py) without importing httpx, which the client needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Generations take minutes, so the generate read timeout is long."""

    connect: float = 10.0
    generate: float = 600.0
    upload: float = 120.0
    download: float = 300.0
    pool: float = 600.0  # waiting for a free connection when every one is busy
