"""Runs the selected jobs with a fixed pool of workers, deciding per job what is left to do.

A fixed pool pulling from one iterator keeps memory flat whatever the plan's size: no task per
job. Per job: skip it when done and intact; download only when it was paid for already; else
image, generation, downloads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.api.errors import FatalApiError
from runner.diagnostics import BackdropError, StateError
from runner.execute.events import FinishStatus, RunTotals
from runner.execute.files import files_intact
from runner.execute.state import JobState
from runner.execute.steps import RunContext, Stopped
from runner.plan.model import Job


@dataclass(frozen=True)
class JobFailure:
    """A job that failed in this run, for the summary: its matrix values and the reason."""

    key: str
    label: str
    vars: Mapping[str, Any]
    message: str
    hint: str | None = None


@dataclass
class Tally:
    jobs: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    interrupted: int = 0
    images: int = 0
    failures: list[JobFailure] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed + self.interrupted


class Scheduler:
    def __init__(
        self,
        ctx: RunContext,
        jobs: Sequence[Job],
        states: Mapping[str, JobState],
        *,
        workers: int,
        force: bool = False,
    ) -> None:
        self.ctx = ctx
        self.jobs = jobs
        self.states = states
        self.workers = max(1, min(workers, len(jobs)))
        self.force = force
        self.tally = Tally(jobs=len(jobs))

    async def run(self) -> Tally:
        """Run every job (or until stopped); jobs never started count as interrupted."""
        watcher = asyncio.ensure_future(self._watch_stop())
        pending: Iterator[Job] = iter(self.jobs)
        try:
            results = await asyncio.gather(
                *(self._worker(pending) for _ in range(self.workers)), return_exceptions=True
            )
        finally:
            watcher.cancel()
        self.tally.interrupted += self.tally.jobs - self.tally.finished
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self.tally

    async def _watch_stop(self) -> None:
        await self.ctx.stop.wait()
        if self.ctx.halt():
            self.ctx.events.run_stopping("interrupted: finishing and saving the requests in flight")

    async def _worker(self, pending: Iterator[Job]) -> None:
        ctx = self.ctx
        try:
            while not ctx.stopping:
                job = next(pending, None)
                if job is None:
                    return
                await self._run_job(job)
        except BaseException:
            ctx.halt()  # a bug or a broken state file: let the others wind down
            raise

    async def _run_job(self, job: Job) -> None:
        ctx = self.ctx
        state = self.states.get(job.key)
        if state is not None and state.status == "done" and not self.force:
            intact = await asyncio.to_thread(files_intact, ctx.output_dir, job.outputs, state.files)
            if intact:
                ctx.state.mark_skipped(job.key)
                self.tally.skipped += 1
                self._finished(job, "skipped", None)
                return
        ctx.events.job_started(job.label)
        started = time.monotonic()
        try:
            if state is not None and state.generated and not self.force:
                # Paid for already (a crash, a failed download, deleted files): download only.
                result_keys, temporary_url = state.result_keys, state.temporary_url
            else:
                image_url = await ctx.image_url(job)
                generation = await ctx.generate(job, image_url)
                result_keys, temporary_url = generation.result_keys, generation.temporary_url
            images = await ctx.download_all(job, result_keys, temporary_url)
        except Stopped:
            self.tally.interrupted += 1
            self._finished(job, "interrupted", "not finished: the run was stopped")
            return
        except FatalApiError as exc:
            if ctx.halt(exc):
                ctx.events.run_stopping(exc.message)
            self.tally.interrupted += 1
            self._finished(job, "interrupted", "not finished: the run was stopped")
            return
        except StateError:
            raise  # the state or the output folder is unusable: nothing else can succeed
        except BackdropError as exc:
            ctx.state.mark_failed(job.key, exc.message, time.monotonic() - started)
            self.tally.failed += 1
            self.tally.failures.append(
                JobFailure(job.key, job.label, job.vars, exc.message, exc.hint)
            )
            self._finished(job, "failed", exc.message)
            return
        ctx.state.mark_done(job.key, round(time.monotonic() - started, 3))
        self.tally.done += 1
        self.tally.images += images
        self._finished(job, "done", None)

    def _finished(self, job: Job, status: FinishStatus, message: str | None) -> None:
        ctx, tally = self.ctx, self.tally
        ctx.events.job_finished(job.label, status, message, ctx.credits_left)
        ctx.events.run_totals(
            RunTotals(
                jobs=tally.jobs,
                done=tally.done,
                skipped=tally.skipped,
                failed=tally.failed,
                retrying=ctx.retrying,
                pending=tally.jobs - tally.finished,
                images=tally.images,
                credits_left=ctx.credits_left,
            )
        )
