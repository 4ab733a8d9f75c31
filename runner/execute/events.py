"""What a run tells its watcher (the CLI renders it). Calls are synchronous and must be cheap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

# "interrupted": the run stopped (Ctrl-C or a fatal API error) before this job could finish.
FinishStatus = Literal["done", "skipped", "failed", "interrupted"]


@dataclass(frozen=True)
class RunTotals:
    """Counts so far, over the jobs this run selected."""

    jobs: int
    done: int
    skipped: int
    failed: int
    retrying: int  # jobs currently waiting to retry a request
    pending: int  # not finished yet (including in flight)
    images: int  # image files written by this run
    credits_left: int | None  # creditLimit - usedCredit from the latest answer


class RunEvents(Protocol):
    def run_started(self, run_id: str, jobs: int) -> None: ...

    def job_started(self, label: str) -> None: ...

    def job_retrying(self, label: str, attempt: int, reason: str, delay: float) -> None: ...

    def job_finished(
        self, label: str, status: FinishStatus, message: str | None, credits_left: int | None
    ) -> None: ...

    def run_stopping(self, reason: str) -> None:
        """No new jobs will start (Ctrl-C or a fatal API answer); requests in flight finish."""
        ...

    def run_totals(self, totals: RunTotals) -> None: ...


class NullEvents:
    """Ignores everything."""

    def run_started(self, run_id: str, jobs: int) -> None:
        pass

    def job_started(self, label: str) -> None:
        pass

    def job_retrying(self, label: str, attempt: int, reason: str, delay: float) -> None:
        pass

    def job_finished(
        self, label: str, status: FinishStatus, message: str | None, credits_left: int | None
    ) -> None:
        pass

    def run_stopping(self, reason: str) -> None:
        pass

    def run_totals(self, totals: RunTotals) -> None:
        pass
