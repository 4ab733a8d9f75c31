"""plan --diff: compare a Plan with what its output folder already holds (pure; no I/O here).

A job is matched to the folder's memory first by key (same request: nothing changed), then by
identity (same matrix values, else same output path): a job whose identity is known but whose
key is not was changed, and the fields that differ say how.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runner.plan.fingerprints import FIELDS, PROMPT_FIELDS, request_fingerprints
from runner.plan.jobs import label_value
from runner.plan.plan_model import Job, Plan

__all__ = [
    "FIELDS",
    "NOTHING",
    "STATUSES",
    "DecisionReplaced",
    "DiffEntry",
    "DiffStatus",
    "DiffTotals",
    "PlanDiff",
    "Previous",
    "PreviousJob",
    "Progress",
    "changed_fields",
    "diff_plan",
    "job_take",
    "vars_identity",
]

DiffStatus = Literal["new", "changed", "unchanged", "download_only", "stale"]
STATUSES: tuple[DiffStatus, ...] = ("new", "changed", "unchanged", "download_only", "stale")
Progress = Literal["done", "paid", "unpaid"]


@dataclass(frozen=True)
class PreviousJob:
    """What an output folder remembers of one job (from its state, or only from backdrop.lock)."""

    key: str
    progress: Progress  # done (files intact), paid (result not downloaded), unpaid (never paid)
    outputs: tuple[str, ...]
    files: tuple[str, ...] = ()  # paths written for it
    vars: Mapping[str, Any] | None = None  # None when only the lock knows the job
    prompt_object: Mapping[str, Any] | None = None
    image: str | None = None  # "file:images/mug.png", "url:https://...", "asset:KEY"
    take: int = 1
    # Only from a lock: (field, fingerprint) of the request, for changed_fields (fingerprints.py).
    fingerprints: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Previous:
    """The folder's memory: every job known by key, and the latest run's jobs (for stale files)."""

    source: Literal["none", "state", "lock"]
    known: Mapping[str, PreviousJob] = field(default_factory=dict)
    latest: tuple[PreviousJob, ...] = ()
    # (path, job key) of every file runs wrote that is still there, when the state keeps that
    # record; stale files are found among them (else among the latest run's jobs' files).
    written: tuple[tuple[str, str], ...] | None = None


NOTHING = Previous("none")


@dataclass(frozen=True)
class DiffEntry:
    status: DiffStatus
    output: str  # the first output (or the stale file)
    vars: Mapping[str, Any]
    label: str
    changed_fields: tuple[str, ...] = ()
    images: int = 0  # to generate
    cost_usd: float = 0.0
    key: str | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "status": self.status,
            "output": self.output,
            "vars": dict(self.vars),
            "label": self.label,
            "key": self.key,
        }
        if self.status == "changed":
            item["changed_fields"] = list(self.changed_fields)
        if self.images:
            item["images"] = self.images
            item["estimated_cost_usd"] = round(self.cost_usd, 4)
        return item


@dataclass(frozen=True)
class DiffTotals:
    new: int
    changed: int
    unchanged: int
    download_only: int
    stale: int
    images_to_generate: int
    estimated_cost_usd: float

    @property
    def to_generate(self) -> int:
        """Jobs a run would pay for."""
        return self.new + self.changed

    @property
    def empty(self) -> bool:
        """Nothing differs: nothing to generate, download or prune (terraform's empty diff)."""
        return self.new + self.changed + self.download_only + self.stale == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "download_only": self.download_only,
            "stale": self.stale,
            "images_to_generate": self.images_to_generate,
            "estimated_cost_usd": self.estimated_cost_usd,
        }


@dataclass(frozen=True)
class DecisionReplaced:
    """A job decided in review.yaml whose images a run would replace: its decision goes back to
    pending (runner/review/replaced.py finds them; the diff and the run's preview show them)."""

    review_key: str
    job_key: str
    output: str  # the job's first output
    label: str
    status: Literal["approved", "rejected"]
    reason: str  # "recipe changed: prompt"

    def to_json(self) -> dict[str, str]:
        return {"review_key": self.review_key, "reason": self.reason}


@dataclass(frozen=True)
class PlanDiff:
    source: Literal["none", "state", "lock"]  # what the comparison was made against
    entries: tuple[DiffEntry, ...]  # plan order, then stale files sorted by path
    totals: DiffTotals
    replaced: tuple[DecisionReplaced, ...] = ()  # decided jobs the run would give new images

    def of(self, *statuses: DiffStatus) -> Iterator[DiffEntry]:
        return (entry for entry in self.entries if entry.status in statuses)

    @property
    def approvals_replaced(self) -> tuple[DecisionReplaced, ...]:
        return tuple(item for item in self.replaced if item.status == "approved")


def job_take(job: Job) -> int:
    """The job's take (1 until takes exist: the one hook for them)."""
    return int(getattr(job, "take", 1))


def vars_identity(vars: Mapping[str, Any]) -> str:
    return json.dumps(vars, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def diff_plan(plan: Plan, previous: Previous) -> PlanDiff:
    """Sort every job of the plan (and every file no job produces any more) into a status."""
    by_vars: dict[str, list[PreviousJob]] = {}
    by_output: dict[str, PreviousJob] = {}
    for old in previous.latest:
        if old.vars is not None:
            by_vars.setdefault(vars_identity(old.vars), []).append(old)
        for path in (*old.outputs, *old.files):
            by_output.setdefault(path, old)
    plan_keys = {job.key for job in plan.jobs}
    entries: list[DiffEntry] = []
    for job in plan.jobs:
        entries.append(_entry(plan, job, previous, by_vars, by_output, plan_keys))
    entries.extend(_stale(plan, previous, plan_keys))
    counts = dict.fromkeys(STATUSES, 0)
    for entry in entries:
        counts[entry.status] += 1
    totals = DiffTotals(
        new=counts["new"],
        changed=counts["changed"],
        unchanged=counts["unchanged"],
        download_only=counts["download_only"],
        stale=counts["stale"],
        images_to_generate=sum(entry.images for entry in entries),
        estimated_cost_usd=round(sum(entry.cost_usd for entry in entries), 4),
    )
    return PlanDiff(previous.source, tuple(entries), totals)


def _entry(
    plan: Plan,
    job: Job,
    previous: Previous,
    by_vars: dict[str, list[PreviousJob]],
    by_output: Mapping[str, PreviousJob],
    plan_keys: set[str],
) -> DiffEntry:
    known = previous.known.get(job.key)
    if previous.source == "lock" and known is not None and set(known.outputs) != set(job.outputs):
        known = None  # the run adopts a lock's job only for exactly its outputs (adopt.py)
    if known is not None and known.progress != "unpaid":
        status: DiffStatus = "unchanged" if known.progress == "done" else "download_only"
        return DiffEntry(status, job.outputs[0], job.vars, job.label, key=job.key)
    before = _predecessor(job, by_vars, by_output, plan_keys)
    po = job.prompt_object
    cost = po.n * plan.prices.price(po.quality, po.size)
    if before is None or before.progress == "unpaid":
        return DiffEntry("new", job.outputs[0], job.vars, job.label, (), po.n, cost, job.key)
    fields = changed_fields(job, before)
    return DiffEntry("changed", job.outputs[0], job.vars, job.label, fields, po.n, cost, job.key)


def _predecessor(
    job: Job,
    by_vars: dict[str, list[PreviousJob]],
    by_output: Mapping[str, PreviousJob],
    plan_keys: set[str],
) -> PreviousJob | None:
    """The earlier job this one replaces: same matrix values, else same output path."""
    if not by_output:  # nothing was ever written (by_vars is empty then too)
        return None
    for old in by_vars.get(vars_identity(job.vars), ()):
        if old.key not in plan_keys:
            return old
    for path in job.outputs:
        same_place = by_output.get(path)
        if same_place is not None and same_place.key not in plan_keys:
            return same_place
    return None


def changed_fields(job: Job, before: PreviousJob) -> tuple[str, ...]:
    """Which of FIELDS differ; empty when neither the request nor its fingerprints are known."""
    now = job.prompt_object.to_json()
    image_now = f"{job.image.kind}:{job.image.ref}"
    if before.prompt_object is None:
        if before.fingerprints is None:
            return ()
        then = dict(before.fingerprints)
        found = [
            name
            for name, print_now in request_fingerprints(now, image_now, job_take(job))
            if name in then and then[name] != print_now
        ]
    else:
        found = [
            name
            for name, api_name in PROMPT_FIELDS.items()
            if now.get(api_name) != before.prompt_object.get(api_name)
        ]
        if before.image is not None and before.image != image_now:
            found.append("source image")
        if job_take(job) != before.take:
            found.append("take")
    if not found:
        # Same request as written, different key: the source image's content changed.
        found.append("source image")
    return tuple(name for name in FIELDS if name in found)


def _stale(plan: Plan, previous: Previous, plan_keys: set[str]) -> Iterable[DiffEntry]:
    """Files recorded for jobs the plan no longer has, at paths no job of the plan writes."""
    planned = {path for job in plan.jobs for path in job.outputs}
    files = previous.written
    if files is None:
        files = tuple((path, old.key) for old in previous.latest for path in old.files)
    seen: set[str] = set()
    stale: list[DiffEntry] = []
    for path, key in files:
        if key in plan_keys or path in planned or path in seen:
            continue
        seen.add(path)
        old = previous.known.get(key)
        vars = old.vars if old is not None and old.vars is not None else {}
        stale.append(DiffEntry("stale", path, vars, _label(vars), key=key))
    return sorted(stale, key=lambda entry: entry.output)


def _label(vars: Mapping[str, Any] | None) -> str:
    if not vars:
        return ""
    return " ".join(f"{name}={label_value(value)}" for name, value in vars.items())
