"""`run_plan`: execute a plan against 1min.ai (or the emulator), resumably; returns a RunResult."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from runner.api.client import OneMinClient
from runner.diagnostics import StateError
from runner.execute.adopt import adoption_for_state, lock_adoption, place_adopted
from runner.execute.budget import recheck_budget
from runner.execute.events import NullEvents, RunEvents
from runner.execute.folder_guard import FolderGuard
from runner.execute.pacer import Pacer
from runner.execute.result_files import clean_partials
from runner.execute.run_options import RunOptions
from runner.execute.scheduler import JobFailure, Scheduler
from runner.execute.selection import select_jobs
from runner.execute.steps import RunContext
from runner.execute.stop_signals import stop_signals_to
from runner.execute.thumbs import ThumbnailMaker
from runner.fileio import check_writable, disk_full, folder_error
from runner.plan.plan_model import Plan
from runner.records.run_records import RUN_ID_TIME, Adoption, UnansweredRequest
from runner.records.spend import lock_generations
from runner.records.state import StateStore

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class RunResult:
    run_id: str
    output_dir: Path
    jobs: int  # selected for this run
    done: int
    skipped: int
    failed: int
    interrupted: int  # not finished: stopped by Ctrl-C or a fatal API answer
    images: int  # image files written by this run
    duration_s: float
    failures: tuple[JobFailure, ...]
    # Why the run stopped early: bad key, out of credits, API unreachable, disk full or read-only,
    # state file unusable, repeated internal errors. Errors before any job starts (the folder is
    # locked by another run, the state file is unreadable) raise StateError instead.
    fatal: str | None
    fatal_hint: str | None
    stopped: bool  # the stop event (Ctrl-C) was set
    credits_left: int | None
    stop_signal: int | None = None  # the signal that stopped the run (SIGINT, SIGTERM, SIGHUP)
    # Generations an earlier run sent and died before their answers came: maybe charged.
    unanswered: tuple[UnansweredRequest, ...] = ()
    # Files found edited (or not backdrop's) where a download went: (output, moved to).
    kept_edits: tuple[tuple[str, str], ...] = ()
    adjusted: tuple[tuple[str, str], ...] = ()  # results converted or kept at another size
    # What this run's generations cost at list prices: the ones the API answered (so charged),
    # a job that failed after its generation included; an estimate, not a bill.
    generated_cost_usd: float = 0.0
    adopted: int = 0  # jobs the state took as done from backdrop.lock (adopt.py)
    copied: int = 0  # of them, jobs whose images were copied from a shard folder (adopt.py)
    # Generations this run sent that got no answer (a 5xx, a dropped connection, a timeout):
    # maybe charged, each counted by the budget; their jobs were sent again or failed.
    maybe_charged: tuple[UnansweredRequest, ...] = ()
    maybe_charged_usd: float = 0.0  # their estimated cost, from the recipe's prices

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.interrupted == 0 and self.fatal is None


class RunAbandoned(KeyboardInterrupt):
    """A second stop signal, or the drain timeout: the requests in flight were abandoned."""

    def __init__(self, signum: int, in_flight: int = 0, *, timed_out: bool = False) -> None:
        super().__init__(signum)
        self.signum = signum
        self.in_flight = in_flight  # generations sent whose answers never came (maybe charged)
        self.timed_out = timed_out


def new_run_id() -> str:
    return f"{datetime.now(UTC).strftime(RUN_ID_TIME)}-{secrets.token_hex(3)}"


async def run_plan_async(
    plan: Plan,
    options: RunOptions,
    client: OneMinClient,
    events: RunEvents,
    stop: asyncio.Event,
    *,
    state: StateStore | None = None,
) -> RunResult:
    """Run the plan's selected jobs. Takes the output folder's lock unless `state` is given.

    Raises StateError only before any job starts; from then on every problem ends in the
    RunResult (a job's failure, or `fatal` for one that stops the run).
    """
    if state is not None:
        return await _run(plan, options, client, events, stop, state)
    with FolderGuard(plan.output_dir):
        await asyncio.to_thread(check_writable, plan.output_dir)
        # Again, now that no other run can spend in this folder: one may have, while this one
        # waited to be confirmed (BudgetExceeded: nothing is sent).
        await asyncio.to_thread(recheck_budget, plan, options)
        # A fresh state (a fresh clone holds the lock and images, not .backdrop/) adopts what
        # backdrop.lock shows done, so that the run does not pay for it again (adopt.py); an
        # existing one adopts what it does not have done itself (StateStore.lock_adoption).
        fresh = not StateStore.has_recorded_run(plan.output_dir)
        with StateStore.open(plan.output_dir) as opened:
            if not opened.has_reserve:
                # Without room for the records of answers, a paid answer could be lost.
                # A read-only or unwritable folder is no full disk: "make room" would mislead.
                failure = opened.reserve.failure
                if failure is None:
                    raise disk_full(plan.output_dir)
                raise folder_error(plan.output_dir, failure)
            await asyncio.to_thread(clean_partials, plan.output_dir)
            # What the folder's committed lock says was spent, kept in the state, so that the
            # lock rebuilt from it still says so (a fresh clone, another machine's run).
            opened.take_in_generations(await asyncio.to_thread(lock_generations, plan.output_dir))
            return await _run(plan, options, client, events, stop, opened, adopt=fresh)


def run_plan(
    plan: Plan,
    options: RunOptions,
    *,
    api_key: str,
    base_url: str,
    asset_base_url: str,
    events: RunEvents | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    handle_sigint: bool = True,
) -> RunResult:
    """Run on a fresh event loop. The first stop signal (Ctrl-C, SIGTERM, SIGHUP) stops
    scheduling: in-flight requests finish and are saved, for at most `options.drain_timeout`.
    A second one, or the timeout, raises RunAbandoned at once (the state stays consistent, and
    what was sent unanswered is recorded as such).
    """
    try:
        return asyncio.run(
            _run_with_client(
                plan,
                options,
                api_key=api_key,
                base_url=base_url,
                asset_base_url=asset_base_url,
                events=events or NullEvents(),
                transport=transport,
                handle_signals=handle_sigint,
            )
        )
    except RunAbandoned as exc:
        exc.in_flight = StateStore.count_unanswered(plan.output_dir)
        raise
    except KeyboardInterrupt:  # a SIGINT while the loop had no handler (starting, ending)
        raise RunAbandoned(signal.SIGINT, StateStore.count_unanswered(plan.output_dir)) from None


async def _run_with_client(
    plan: Plan,
    options: RunOptions,
    *,
    api_key: str,
    base_url: str,
    asset_base_url: str,
    events: RunEvents,
    transport: httpx.AsyncBaseTransport | None,
    handle_signals: bool,
) -> RunResult:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    received: list[int] = []
    timers: list[asyncio.TimerHandle] = []

    def on_drain_timeout() -> None:
        raise RunAbandoned(received[0], timed_out=True)

    def on_signal(signum: int) -> None:
        if stop.is_set():
            raise RunAbandoned(signum)
        received.append(signum)
        stop.set()
        if options.drain_timeout is not None:
            timers.append(loop.call_later(options.drain_timeout, on_drain_timeout))

    watch = handle_signals and threading.current_thread() is threading.main_thread()
    try:
        with stop_signals_to(loop, on_signal) if watch else contextlib.nullcontext():
            async with OneMinClient(
                api_key=api_key,
                base_url=base_url,
                asset_base_url=asset_base_url,
                transport=transport,
                timeout=options.timeouts,
                max_connections=options.max_in_flight + 4,
            ) as client:
                result = await run_plan_async(plan, options, client, events, stop)
    finally:
        for timer in timers:
            timer.cancel()
    if received:
        result = dataclasses.replace(result, stop_signal=received[0])
    return result


async def _run(
    plan: Plan,
    options: RunOptions,
    client: OneMinClient,
    events: RunEvents,
    stop: asyncio.Event,
    state: StateStore,
    *,
    adopt: bool = False,
) -> RunResult:
    started = time.monotonic()
    failed_keys = set(state.failed_keys()) if options.retry_failed else None
    jobs = select_jobs(plan.jobs, options.selection, failed_keys=failed_keys, keys=options.keys)
    run_id = new_run_id()
    keys = {job.key for job in jobs}
    adopted: Adoption | None
    if adopt:
        adopted = await asyncio.to_thread(
            functools.partial(lock_adoption, plan.output_dir, plan, keys, strict=True)
        )
    else:  # a lock pulled from git may know jobs this state does not (another machine's run)
        adopted = await asyncio.to_thread(adoption_for_state, state, plan, keys)
    if adopted is not None and adopted.copies:  # done in a shard folder: a copy, not a payment
        adopted = await asyncio.to_thread(place_adopted, plan.output_dir, adopted)
    state.begin_run(plan, run_id, adopted)  # durable with the adoption, before any request
    unanswered = state.take_unanswered()
    states = state.job_states([job.key for job in jobs])
    events.run_started(run_id, len(jobs))
    ctx = RunContext(
        client=client,
        state=state,
        events=events,
        pacer=Pacer(
            options.requests_per_minute,
            max_in_flight=options.concurrency,
            adaptive=options.adaptive,
        ),
        backoff=options.backoff,
        stop=stop,
        output_dir=Path(os.path.abspath(plan.output_dir)),
        max_attempts=options.max_attempts,
        max_download_bytes=options.max_download_bytes,
    )
    ctx.thumbnails = ThumbnailMaker(ctx.output_dir)
    try:
        tally = await Scheduler(
            ctx,
            jobs,
            states,
            workers=options.max_in_flight,
            force=options.force,
            protected=options.protected,
        ).run()
    except BaseException:
        ctx.thumbnails.close(wait=False)
        raise
    await asyncio.to_thread(ctx.thumbnails.close)  # the report then only reuses them
    try:
        state.finish_run(run_id)
    except StateError as exc:  # the jobs' own records are written already; say why it stopped
        ctx.halt(exc)
    fatal = ctx.fatal
    return RunResult(
        run_id=run_id,
        output_dir=plan.output_dir,
        jobs=tally.jobs,
        done=tally.done,
        skipped=tally.skipped,
        failed=tally.failed,
        interrupted=tally.interrupted,
        images=tally.images,
        duration_s=round(time.monotonic() - started, 3),
        failures=tuple(tally.failures),
        fatal=fatal.message if fatal is not None else None,
        fatal_hint=fatal.hint if fatal is not None else None,
        stopped=stop.is_set(),
        credits_left=ctx.credits_left,
        unanswered=unanswered,
        kept_edits=tuple(ctx.kept_edits),
        adjusted=tuple(ctx.adjusted),
        generated_cost_usd=state.run_cost_usd,
        adopted=len(adopted.done) if adopted is not None else 0,
        copied=len({key for _, key, _ in adopted.copies}) if adopted is not None else 0,
        maybe_charged=tuple(ctx.unanswered),
        maybe_charged_usd=_estimate(plan, ctx.unanswered),
    )


def _estimate(plan: Plan, requests: list[UnansweredRequest]) -> float:
    from runner.execute.budget import job_cost

    jobs = {job.key: job for job in plan.jobs}
    return round(sum(job_cost(plan, jobs[r.key]) for r in requests if r.key in jobs), 4)
