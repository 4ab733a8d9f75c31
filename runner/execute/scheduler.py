"""Runs the selected jobs with a fixed pool of workers, deciding per job what is left to do.

A fixed pool pulling from one iterator keeps memory flat whatever the plan's size: no task per
job. Per job: skip it when done and intact; download only when it was paid for already; else
image, generation, downloads.

How a job can end: done, skipped, failed (its own problem: the API refused it, its file cannot
be written, or a bug hit it) or interrupted (the run stopped). Nothing but a second Ctrl-C (or
cancellation) escapes `run`: a run-wide condition (bad key, no credits, API unreachable, full or
read-only disk, unusable state file) halts the run and becomes `ctx.fatal`.
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
from runner.execute.result_files import OutputWriteError, files_intact
from runner.execute.steps import RunContext, Stopped
from runner.plan.plan_model import Job
from runner.records.run_records import INTERNAL_ERROR
from runner.records.state import JobState

# After this many jobs hit a bug, stop: a systematic bug would otherwise spend on every job.
MAX_INTERNAL_ERRORS = 3


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
        protected: frozenset[str] = frozenset(),
    ) -> None:
        self.ctx = ctx
        self.jobs = jobs
        self.states = states
        self.workers = max(1, min(workers, len(jobs)))
        self.force = force
        self.protected = protected  # approved jobs: --force does not generate them again
        self.tally = Tally(jobs=len(jobs))
        self.internal_errors = 0

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
                try:
                    await self._run_job(job)
                except StateError as exc:
                    # The state file (or the whole disk) is unusable: nothing else can succeed.
                    self._stop_run(job, exc)
                except Exception as exc:  # a bug: fail this job, keep the campaign going
                    self._internal_error(job, exc)
        except BaseException:
            ctx.halt()  # cancelled, or a second Ctrl-C: let the others wind down
            raise

    async def _run_job(self, job: Job) -> None:
        ctx = self.ctx
        state = self.states.get(job.key)
        force = self.force and job.key not in self.protected
        if state is not None and state.status == "done" and not force:
            intact = await asyncio.to_thread(files_intact, ctx.output_dir, job.outputs, state.files)
            if intact:
                self.tally.skipped += 1
                self._finished(job, "skipped", None)
                return
        ctx.events.job_started(job.label)
        started = time.monotonic()
        try:
            if state is not None and state.generated and not force:
                # Paid for already (a crash, a failed download, deleted files): download only.
                result_keys, temporary_url = state.result_keys, state.temporary_url
            else:
                generation = await ctx.generate_from_source(job)
                result_keys, temporary_url = generation.result_keys, generation.temporary_url
            images = await ctx.download_all(job, result_keys, temporary_url)
        except Stopped:
            self._interrupted(job)
            return
        except FatalApiError as exc:
            self._stop_run(job, exc)
            return
        except OutputWriteError as exc:
            # This job's file only (a file where its folder should be, a name too long): the
            # generation stays recorded, so a run after the fix downloads it without paying.
            self._fail(job, exc.message, exc.hint, started)
            return
        except StateError:
            raise  # the state file or the whole disk: the worker stops the run
        except BackdropError as exc:
            self._fail(job, exc.message, exc.hint, started)
            return
        ctx.state.mark_done(job.key, round(time.monotonic() - started, 3))
        self.tally.done += 1
        self.tally.images += images
        self._finished(job, "done", None)

    def _fail(self, job: Job, message: str, hint: str | None, started: float | None) -> None:
        duration = None if started is None else round(time.monotonic() - started, 3)
        self.ctx.state.mark_failed(job.key, message, duration)
        self.tally.failed += 1
        self.tally.failures.append(JobFailure(job.key, job.label, job.vars, message, hint))
        self._finished(job, "failed", message)

    def _interrupted(self, job: Job) -> None:
        self.tally.interrupted += 1
        self._finished(job, "interrupted", "not finished: the run was stopped")

    def _stop_run(self, job: Job, exc: BackdropError) -> None:
        """A run-wide condition: no new job starts; this one counts as interrupted."""
        if self.ctx.halt(exc):
            self.ctx.events.run_stopping(exc.message)
        self._interrupted(job)

    def _internal_error(self, job: Job, exc: Exception) -> None:
        """A bug hit this job. Fail it and go on: other jobs may not meet the bug, and whatever
        was paid is recorded already. But stop when it keeps happening: then it is systematic,
        and every further job could be spending for nothing."""
        self.internal_errors += 1
        message = f"{INTERNAL_ERROR}{type(exc).__name__}: {exc}"
        hint = "this is a bug in backdrop; please report it with this message"
        try:
            self._fail(job, message, hint, None)
        except StateError as state_exc:
            self._stop_run(job, state_exc)
            return
        if self.internal_errors >= MAX_INTERNAL_ERRORS and self.ctx.halt(
            BackdropError(
                f"stopped after {self.internal_errors} jobs failed with an internal error"
                f" (the latest: {type(exc).__name__}: {exc})",
                hint,
            )
        ):
            self.ctx.events.run_stopping("internal errors keep happening")

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
