"""How a run goes: its rate, concurrency, retries, timeouts and which jobs, checked when made.

Apart from run_plan.py, so that the preview and the budget check (which run_plan.py calls) take
the same options without importing the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.api.limits import DEFAULT_RPM
from runner.api.timeouts import Timeouts
from runner.diagnostics import UsageError
from runner.execute.backoff import Backoff
from runner.execute.pacing import MAX_IN_FLIGHT
from runner.execute.selection import Selection
from runner.records.run_records import MAX_OUTPUT_BYTES

DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class RunOptions:
    # Requests in flight at most; None: as many as the rate and the latency call for (pacing.py).
    concurrency: int | None = None
    # API requests per minute, uploads and generations together; None: 180, shared by the shards.
    rpm: float | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # per request, the first one included
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_download_bytes: int = MAX_OUTPUT_BYTES
    selection: Selection = field(default_factory=Selection)
    force: bool = False  # generate again even jobs that are done (or paid, not downloaded)
    retry_failed: bool = False  # only the jobs that failed in the latest run
    keys: frozenset[str] | None = None  # only these job keys (run --rejected); None: all
    protected: frozenset[str] = frozenset()  # approved jobs' keys: --force leaves them alone
    adaptive: bool = True  # slow down when the API answers 429
    backoff: Backoff = field(default_factory=Backoff)
    # After a stop signal, how long to wait for the answers in flight (None: as long as they take)
    drain_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency is not None and not 1 <= self.concurrency <= MAX_IN_FLIGHT:
            raise UsageError(
                f"--concurrency {self.concurrency}: must be between 1 and {MAX_IN_FLIGHT}"
            )
        if self.rpm is not None and not self.rpm > 0:
            raise UsageError(f"--rpm {self.rpm:g}: must be more than 0")
        if self.max_attempts < 1:
            raise UsageError(f"--max-attempts {self.max_attempts}: must be at least 1")
        if self.drain_timeout is not None and not self.drain_timeout >= 0:
            raise UsageError(f"--drain-timeout {self.drain_timeout:g}: must be 0 or more")
        if self.max_download_bytes < 1:
            raise UsageError("the download size cap must be at least 1 byte")

    @property
    def requests_per_minute(self) -> float:
        """--rpm, else the account's 180 shared evenly by the shards (they draw on one quota)."""
        if self.rpm is not None:
            return self.rpm
        shard = self.selection.shard
        return DEFAULT_RPM / (shard.count if shard is not None else 1)

    @property
    def max_in_flight(self) -> int:
        return self.concurrency if self.concurrency is not None else MAX_IN_FLIGHT
