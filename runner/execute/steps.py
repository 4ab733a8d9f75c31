"""The steps of one job: the image's URL (upload once), one paid generation, verified downloads.

Every API request (upload, generate) asks the run's pacer for a slot (pacer.py: the rate and the
in-flight ceiling), and is retried on 429, 5xx, timeouts and dropped connections with backoff.
Downloads from the asset host are retried by the same policy and never cause a new generation.

What cannot be seen from here: the API may charge a generation and then answer 504 (or drop
the connection). The client sees a transient error and retries, and that retry is paid again.
Nothing on the client side can tell the two apart; the state only guarantees that an answer we
*did* receive is never paid for twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from runner.api.client import Generation, OneMinClient
from runner.api.errors import (
    ApiProtocolError,
    FatalApiError,
    RateLimited,
    RejectedError,
    RetryableError,
    TransientError,
    UnknownAssetError,
    UnreachableError,
)
from runner.diagnostics import ApiError, BackdropError, StateError
from runner.execute.backoff import Backoff
from runner.execute.events import RunEvents
from runner.execute.pacer import Pacer
from runner.execute.result_files import ExistingFile, download_verified
from runner.execute.thumbs import ThumbnailMaker
from runner.fileio import disk_full
from runner.plan.plan_model import ImageSource, Job, PromptObject
from runner.records.run_records import FileRecord, UnansweredRequest
from runner.records.state import StateStore

T = TypeVar("T")

# A 429 says "later", not "no", and costs nothing: a request refused by a per-minute window
# (without Retry-After) is tried past --max-attempts until it has waited this long in all.
RATE_LIMIT_PATIENCE_S = 65.0


class SourceImageError(BackdropError):
    """A local source image is gone or changed since planning: this job fails, the run goes on."""


class Stopped(Exception):
    """The run is stopping (Ctrl-C or a fatal API answer): send no new request."""


@dataclass
class RunContext:
    """What every job of a run shares. Mutable, but only ever touched from the event loop."""

    client: OneMinClient
    state: StateStore
    events: RunEvents
    pacer: Pacer
    backoff: Backoff
    stop: asyncio.Event
    output_dir: Path
    max_attempts: int
    max_download_bytes: int
    fatal: BackdropError | None = None  # why the run stopped early (bad key, full disk, ...)
    api_reached: bool = False  # some API request got through (an answer, or at least connected)
    credits_left: int | None = None
    retrying: int = 0  # jobs sleeping before a retry, for the progress display
    halted: asyncio.Event = field(default_factory=asyncio.Event)  # stop asked, or fatal answer
    thumbnails: ThumbnailMaker | None = None  # previews made as images land
    # (output, where the file found there was moved): edits kept from a fresh download
    kept_edits: list[tuple[str, str]] = field(default_factory=list)
    # (output, what was adjusted): results of another format (converted) or size (kept)
    adjusted: list[tuple[str, str]] = field(default_factory=list)
    # Generations this run sent that got no answer: maybe charged (then sent again, or failed)
    unanswered: list[UnansweredRequest] = field(default_factory=list)
    _uploads: dict[str, asyncio.Future[str]] = field(default_factory=dict)

    @property
    def stopping(self) -> bool:
        return self.halted.is_set() or self.stop.is_set()

    def check_stop(self) -> None:
        if self.halted.is_set() or self.stop.is_set():
            raise Stopped

    def halt(self, fatal: BackdropError | None = None) -> bool:
        """Stop scheduling; True the first time (so the reason is told once)."""
        if fatal is not None and self.fatal is None:
            self.fatal = fatal
        first = not self.halted.is_set()
        self.halted.set()
        self.pacer.abandon_waiters(Stopped)  # nobody waits for a slot to send nothing
        return first

    async def pause(self, seconds: float) -> None:
        """Sleep before a retry; cut short (raising Stopped) when the run is asked to stop."""
        self.check_stop()
        if seconds > 0:
            self.retrying += 1
            try:
                await asyncio.wait_for(self.halted.wait(), seconds)
            except TimeoutError:
                pass
            finally:
                self.retrying -= 1
        self.check_stop()

    async def api_call(
        self, label: str, send: Callable[[], Awaitable[T]], *, generation: bool = False
    ) -> T:
        """One API request with pacing and retries; `send` is called once per attempt.
        `generation`: its latency tells the pacer how long generations take."""

        async def attempt() -> T:
            self.check_stop()
            async with self.pacer.slot(generation=generation) as slot:
                self.check_stop()  # the wait for a slot may have outlived the run
                try:
                    result = await send()
                except RateLimited as exc:
                    self.api_reached = True
                    slot.refused(exc.retry_after)
                    raise
                except TransientError as exc:
                    self.api_reached = self.api_reached or exc.connect_failure is None
                    raise
                except ApiError:
                    self.api_reached = True  # the API answered, if only to say no
                    raise
                self.api_reached = True
                slot.ok()
                return result

        def give_up(error: RetryableError, attempts: int) -> ApiError:
            reason = error.connect_failure if isinstance(error, TransientError) else None
            if reason is not None and not self.api_reached:
                # Never reached at all, not a blip: every other job would fail the same way.
                return UnreachableError(self.client.display_url, reason)
            return _gave_up(error, attempts)

        return await self._retrying(label, attempt, self.pause, give_up)

    async def _retrying(
        self,
        label: str,
        attempt: Callable[[], Awaitable[T]],
        pause: Callable[[float], Awaitable[None]],
        give_up: Callable[[RetryableError, int], ApiError] | None = None,
    ) -> T:
        """The one retry policy: up to max_attempts, backoff (or the server's Retry-After)
        between attempts, each retry told to the events."""
        attempts = 0
        waited_on_429 = 0.0
        while True:
            try:
                return await attempt()
            except RetryableError as exc:
                error = exc
            attempts += 1
            patient = (
                isinstance(error, RateLimited)
                and self.max_attempts > 1
                and waited_on_429 < RATE_LIMIT_PATIENCE_S
            )
            if attempts >= self.max_attempts and not patient:
                raise (give_up or _gave_up)(error, attempts)
            delay = self.backoff.delay(attempts - 1, error.retry_after)
            if isinstance(error, RateLimited):
                if attempts >= self.max_attempts:  # patient: bounded by time, so never 0 s
                    delay = max(delay, 1.0)
                waited_on_429 += max(delay, 1.0)  # "Retry-After: 0" again and again ends too
            self.events.job_retrying(label, attempts + 1, error.message, delay)
            await pause(delay)

    # -- step 1: the image ---------------------------------------------------------------------

    async def image_url(self, job: Job) -> str:
        """What goes into imageUrl: URLs and asset keys as they are, files uploaded once."""
        image = job.image
        if image.kind != "file":
            return image.ref
        assert image.sha256 is not None
        known = self.state.asset_key(image.sha256)
        if known is not None:
            return known
        pending = self._uploads.get(image.sha256)
        if pending is not None:
            # Another job is uploading the same content: share its upload.
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._uploads[image.sha256] = future
        try:
            key = await self._upload(job.label, image)
            # Inside the try: a record that cannot be saved (a full disk) must reach the jobs
            # waiting on this upload too, or they would wait forever.
            self.state.record_asset(image.sha256, key)
        except BaseException as exc:
            del self._uploads[image.sha256]  # a later job may try again
            future.set_exception(exc if isinstance(exc, Exception) else Stopped())
            future.exception()  # retrieved: no "never retrieved" noise when nobody waits
            raise
        future.set_result(key)
        del self._uploads[image.sha256]
        return key

    async def generate_from_source(self, job: Job) -> Generation:
        """Upload (once) and generate. An upload the API has forgotten since an earlier run
        (its assets expired, or an emulator restarted) is uploaded again, once, and the
        generation retried once; a refused generation is not charged, so the retry costs
        nothing. Jobs sharing the image share the new upload."""
        image_url = await self.image_url(job)
        try:
            return await self.generate(job, image_url)
        except UnknownAssetError:
            image = job.image
            if image.kind != "file" or image.sha256 is None:
                raise  # a URL or an asset key of the recipe's: nothing here to upload again
            self.state.forget_asset(image.sha256, image_url)
            return await self.generate(job, await self.image_url(job))

    async def _upload(self, label: str, image: ImageSource) -> str:
        assert image.path is not None and image.sha256 is not None
        data = await asyncio.to_thread(_read_source, image.path, image.sha256)
        filename = image.path.name
        mimetype = image.mimetype or "application/octet-stream"
        return await self.api_call(
            label, lambda: self.client.upload_asset(data, filename, mimetype)
        )

    # -- step 2: the paid generation -------------------------------------------------------------

    async def generate(self, job: Job, image_url: str) -> Generation:
        """Generate, then record the answer durably before anything else happens."""
        prompt_object = job.prompt_object.to_api(image_url)

        async def send() -> Generation:
            # Recorded as sent (fsynced) first: a run killed now leaves a trace of it.
            await self.state.mark_sent_async(job.key)
            try:
                return await self.client.generate(prompt_object)
            except (RejectedError, RateLimited, FatalApiError):
                self.state.clear_sent(job.key)  # refused: an answer, and nothing charged
                raise
            except (TransientError, ApiProtocolError) as exc:
                if isinstance(exc, TransientError) and not exc.maybe_processed:
                    self.state.clear_sent(job.key)  # never went out whole: nothing charged
                    raise
                # No answer to read (a 5xx, a dropped connection, a timeout, an answer that
                # makes no sense): 1min.ai may have charged it. On record before the retry.
                sent_at = await self.state.record_unanswered_async(job.key)
                if sent_at is not None:
                    self.unanswered.append(UnansweredRequest(job.key, job.label, job.vars, sent_at))
                raise

        generation = await self.api_call(job.label, send, generation=True)
        if generation.credits_left is not None:
            self.credits_left = generation.credits_left
        # Paid: durable (fsynced) before any download; off the loop so others keep going.
        await self.state.record_generation_async(
            job.key,
            generation.uuid,
            generation.result_keys,
            generation.temporary_url,
            generation.credits_left,
        )
        return generation

    # -- step 3: the downloads -------------------------------------------------------------------

    async def download_all(
        self, job: Job, result_keys: tuple[str, ...], temporary_url: str | None
    ) -> int:
        """Download every result to its planned path and record it; returns the count."""
        if len(result_keys) < len(job.outputs):
            raise RejectedError(
                f"the API returned {len(result_keys)} image(s) where {len(job.outputs)}"
                " were asked for"
            )
        for index, (dest, key) in enumerate(zip(job.outputs, result_keys, strict=False)):
            if isinstance(self.fatal, StateError):
                # The disk is full (or the state unusable): keep what room is left for the
                # state's records of answers; the next run downloads this from the record.
                raise Stopped
            if self.state.reserve.released:  # a state write found the disk full
                raise disk_full(self.output_dir)
            existing = None
            if os.path.lexists(self.output_dir / dest):  # a file is there: maybe not ours
                existing = ExistingFile(self.state.written_file(dest))
            notes: list[str] = []
            record = await self._download_one(
                job.label,
                key,
                dest,
                job.prompt_object,
                temporary_url if index == 0 else None,
                existing,
                notes,
            )
            if existing is not None and existing.moved_to is not None:
                self.kept_edits.append((dest, existing.moved_to))
            self.adjusted.extend((dest, note) for note in notes)
            self.state.record_file(job.key, index, record)
            previews = self._previews()
            if previews is not None:
                previews.submit(record.sha256, self.output_dir / record.path)
        image = job.image
        previews = self._previews()
        if previews is not None and image.sha256 is not None and image.path is not None:
            previews.submit(image.sha256, image.path)  # the original, beside the results
        return len(job.outputs)

    def _previews(self) -> ThumbnailMaker | None:
        """Where previews are made, or None: once the disk is full the room left is for the
        records of answers already paid for (the reports make the previews later)."""
        return None if self.state.reserve.released else self.thumbnails

    async def _download_one(
        self,
        label: str,
        key: str,
        dest: str,
        asked: PromptObject,  # the format, size and compression the file must have
        temporary_url: str | None,
        existing: ExistingFile | None = None,
        notes: list[str] | None = None,
    ) -> FileRecord:
        url: str | None = None  # the asset host first; the presigned link if it refuses

        async def attempt() -> FileRecord:
            nonlocal url
            try:
                return await download_verified(
                    self.client,
                    key,
                    output_dir=self.output_dir,
                    dest=dest,
                    expected_format=asked.output_format,
                    expected_size=_parse_size(asked.size),
                    max_bytes=self.max_download_bytes,
                    url=url,
                    existing=existing,
                    expected_compression=asked.output_compression,
                    notes=notes,
                    # A state write found the disk full: its room is for paid answers' records.
                    stop_writing=lambda: self.state.reserve.released,
                )
            except RejectedError as exc:
                if url is not None or temporary_url is None or exc.status not in (403, 404):
                    raise
                url = temporary_url
                raise TransientError(exc.message, exc.hint, status=exc.status) from None

        # A download is not a new request to pay for: it goes on even while stopping.
        return await self._retrying(label, attempt, asyncio.sleep)


def _gave_up(error: RetryableError, attempts: int) -> ApiError:
    what = "attempt" if attempts == 1 else "attempts"
    message = f"{error.message} (gave up after {attempts} {what})"
    if isinstance(error, RateLimited):
        return RateLimited(message, error.retry_after)
    if isinstance(error, TransientError):
        return TransientError(message, error.hint, status=error.status)
    return ApiError(message, error.hint)


def _read_source(path: Path, sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceImageError(
            f"cannot read the source image {path}: {exc.strerror or exc}",
            "check that the file is still there",
        ) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SourceImageError(
            f"the source image {path} changed since the plan was made",
            "run again: the plan is made afresh from the files as they are now",
        )
    return data


def _parse_size(size: str) -> tuple[int, int] | None:
    width, sep, height = size.partition("x")
    if sep and width.isdigit() and height.isdigit():
        return int(width), int(height)
    return None
