"""What the state store gives the report stage: the contract between execution and reporting."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from runner.recipe.model import DEFAULT_PRICES, PriceTable

# No result image backdrop downloads, writes or hashes is larger: a 1536x1024 PNG is a few MB,
# nothing legitimate comes near this.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024

# What the folder holds for a job: "generated" is paid for, not downloaded yet. (Whether a run
# touched a job is the run's business, told in its summary; the state describes the folder.)
JobStatus = Literal["pending", "generated", "done", "failed"]

# A run id starts with the moment the run started, to the second (run.new_run_id).
RUN_ID_TIME = "%Y%m%dT%H%M%SZ"
_RUN_ID = re.compile(r"([0-9]{8}T[0-9]{6}Z)-")

# How a job failed by a bug in backdrop (not by the API's answer) begins its recorded error:
# junit.xml reports those as <error>, the others as <failure>.
INTERNAL_ERROR = "internal error: "


@dataclass(frozen=True)
class FileRecord:
    path: str  # POSIX, relative to the output folder
    sha256: str
    width: int
    height: int
    bytes: int


@dataclass(frozen=True)
class JobRecord:
    key: str
    index: int
    label: str
    vars: Mapping[str, Any]
    image_kind: Literal["file", "url", "asset"]
    image_ref: str  # as rendered in the recipe
    image_path: str | None  # absolute path of a local source image at run time
    prompt_object: Mapping[str, Any]  # the resolved promptObject, without imageUrl
    outputs: tuple[str, ...]  # planned output paths
    status: JobStatus
    attempts: int
    error: str | None
    record_uuid: str | None
    files: tuple[FileRecord, ...]
    duration_s: float | None
    take: int = 1  # 2 and later: regenerated after a rejection (`run --rejected`)

    @property
    def shown_status(self) -> str:
        """The status as reports show it: paid but not yet downloaded is still pending."""
        return "pending" if self.status == "generated" else self.status

    @property
    def internal_error(self) -> bool:
        """Failed by a bug in backdrop rather than by what the API or the disk said."""
        return self.status == "failed" and (self.error or "").startswith(INTERNAL_ERROR)


MAYBE_PREFIX = "unanswered:"  # the id of a generation that got no answer: maybe charged


@dataclass(frozen=True)
class GenerationRecord:
    """One generation an output folder paid for, or may have (state_spend.py, backdrop.lock)."""

    id: str  # the API's record uuid, or MAYBE_PREFIX... for one that got no answer
    job: str  # the job key
    run: str | None  # the run that sent it
    images: int  # n
    quality: str
    size: str

    @property
    def maybe(self) -> bool:
        return self.id.startswith(MAYBE_PREFIX)


@functools.lru_cache(maxsize=256)  # a folder's generations come from a few runs
def run_started_at(run_id: str | None) -> datetime | None:
    """When the run with this id started (UTC, to the second); None for an id of another form
    (a lock is committed by many hands)."""
    match = _RUN_ID.match(run_id or "")
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), RUN_ID_TIME).replace(tzinfo=UTC)
    except ValueError:  # 20241399T...: digits, but no date
        return None


@dataclass(frozen=True)
class RunSnapshot:
    """An output folder as the state store remembers it: the latest run's plan, each job's
    status and files, and every generation the folder paid for."""

    recipe_name: str
    recipe_path: str
    run_id: str
    started_at: str  # ISO 8601, UTC
    finished_at: str | None
    tool_version: str
    axes: tuple[str, ...]
    report_rows: str | None
    report_columns: str | None
    # What the run's generations cost at list prices (each one the API answered, failed jobs'
    # too): not the plan's cost; nothing for jobs done earlier, only downloaded, or refused.
    estimated_cost_usd: float
    jobs: tuple[JobRecord, ...]
    # Every generation the folder paid for or may have, forced-over ones too (backdrop.lock)
    generations: tuple[GenerationRecord, ...] = ()
    prices: PriceTable = DEFAULT_PRICES  # the latest run's recipe's, to price `generations`

    def totals(self) -> dict[str, int]:
        counts = {"jobs": len(self.jobs), "done": 0, "failed": 0, "pending": 0}
        for job in self.jobs:
            counts[job.shown_status] += 1
        counts["images"] = sum(len(job.files) for job in self.jobs)
        return counts


@dataclass(frozen=True)
class RunHeader:
    """The latest run over an output folder without its jobs: its recipe, the jobs it planned."""

    recipe_name: str
    recipe_path: str
    job_keys: frozenset[str]


@dataclass(frozen=True)
class UnansweredRequest:
    """A generation sent by a run that died before its answer came: maybe charged, no result."""

    key: str
    label: str
    vars: Mapping[str, Any]
    sent_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Adoption:
    # job key -> its files, in output order: jobs a lock shows done, files intact
    done: Mapping[str, tuple[FileRecord, ...]] = field(default_factory=dict)
    # (job key, file) of every lock file still as recorded: backdrop wrote it, so a new result
    # may replace it without keeping it as an edit (as the state's written_files would say)
    written: tuple[tuple[str, FileRecord], ...] = ()
    # (source file, job key, record) of done files that are in another folder's lock: the run
    # copies them into place (place_adopted) before it records the adoption
    copies: tuple[tuple[Path, str, FileRecord], ...] = ()
