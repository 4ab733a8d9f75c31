"""Whether a decision still holds: it was made on the images its `sha256:` lists, and on no others.

A run that writes other bytes at a decided job's outputs (a recipe change, --force
--include-approved, a copy from a shard folder's lock, a retake) sends the decision back to
pending, the old one kept in its history with the reason (`release_replaced`). Until then, and
for what no run did (a file swapped by hand, a review.yaml pulled from another machine), the page
shows such a decision as pending and export refuses it: an approval delivers the bytes it was
made on or nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runner.records.lockfile import sha256_of
from runner.records.run_records import FileRecord, JobRecord, RunSnapshot
from runner.review.decision_model import Decision, Review, Status, review_key
from runner.review.decisions import load_review, update_review

# holds: made on exactly these images; replaced: other images are there now; unbound: made
# without its images' SHA-256 (by hand); no_images: the job has none (yet); undecided: pending.
Binding = Literal["holds", "replaced", "unbound", "no_images", "undecided"]
DEFAULT_REASON = "its images were replaced"


CHANGED_ON_DISK = "changed on disk"  # stands for a file's hash: it is not the recorded one


def current_images(job: JobRecord) -> tuple[str | None, ...]:
    """The SHA-256 the state records at each of the job's outputs (None: none written yet)."""
    by_path = {record.path: record.sha256 for record in job.files}
    return tuple(by_path.get(output) for output in job.outputs)


def images_on_disk(output_dir: Path, job: JobRecord) -> tuple[str | None, ...]:
    """current_images, with CHANGED_ON_DISK for a file gone or no longer of its recorded size.

    A stat per file, cheap enough for every page load; a same-size swap is left to export,
    which hashes what it delivers.
    """
    return images_at(output_dir, job.outputs, job.files)


def images_at(
    output_dir: Path, outputs: Sequence[str], files: Sequence[FileRecord]
) -> tuple[str | None, ...]:
    """images_on_disk for any job the state records: its outputs and the files written there."""
    by_path = {record.path: record for record in files}
    root = os.fspath(output_dir)  # os.path, not pathlib: a status of 5,000 jobs calls this each
    found = []
    for output in outputs:
        record = by_path.get(output)
        try:
            same = record is None or os.stat(os.path.join(root, output)).st_size == record.bytes
        except OSError:
            same = False
        found.append(None if record is None else record.sha256 if same else CHANGED_ON_DISK)
    return tuple(found)


def binding(decision: Decision, images: Sequence[str | None]) -> Binding:
    if decision.status == "pending":
        return "undecided"
    if not any(images):
        return "no_images"
    if not decision.sha256:
        return "unbound"
    return "holds" if tuple(decision.sha256) == tuple(images) else "replaced"


def shown_status(decision: Decision, images: Sequence[str | None]) -> Status:
    """The status the page shows and counts: an approval holds only on the images it saw.

    A rejection written by hand (no sha256) still shows as rejected: it delivers nothing.
    """
    found = binding(decision, images)
    if found == "holds" or (found == "unbound" and decision.status == "rejected"):
        return decision.status
    return "pending"


def binding_notice(decision: Decision, images: Sequence[str | None]) -> str | None:
    """What the page says about a decision that does not hold for the images in view."""
    found = binding(decision, images)
    done = "approved" if decision.status == "approved" else "rejected"
    if found == "replaced" and CHANGED_ON_DISK in images:
        return (
            "An image of this job was changed on disk after backdrop wrote it: run the recipe "
            "to restore it (the changed file is kept aside)."
        )
    if found == "replaced":
        return f"It was {done} on other images, replaced since: review these."
    if found == "unbound" and decision.status == "approved":
        return (
            "review.yaml approves it without the SHA-256 of its images (a hand edit?): "
            "approve it here to approve these images."
        )
    if found == "no_images" and decision.status == "approved":
        if not decision.sha256:
            return "review.yaml approves it, but it has no images yet: run the recipe first."
        return "It was approved on images this job no longer has: run the recipe, then review it."
    return None


@dataclass(frozen=True)
class Mismatch:
    """An approved job whose delivery is refused: its approval is not for these bytes."""

    review_key: str
    label: str
    reason: str


def approval_mismatch(
    output_dir: Path,
    key: str,
    job: JobRecord,
    decision: Decision,
    variant: int,
    hash_file: Callable[[Path], str | None] = sha256_of,
) -> Mismatch | None:
    """Why the approved `variant` of `job` may not be delivered (None: it may).

    The approval must list the images the state records, and the file on disk must still be
    the approved one (a file swapped by hand is refused too). `hash_file`: how the caller
    hashes it (export hashes each file once, and never opens a pipe).
    """
    images = current_images(job)
    found = binding(decision, images)
    if found == "unbound":
        return Mismatch(key, job.label, "approved without the SHA-256 of its images")
    if found == "replaced":
        return Mismatch(key, job.label, "its images were replaced after the approval")
    if found != "holds":
        return None  # nothing to deliver: export leaves it out and says why
    output = job.outputs[variant - 1]
    if hash_file(output_dir / output) != decision.sha256[variant - 1]:
        return Mismatch(key, job.label, f"{output} is not the image that was approved")
    return None


@dataclass(frozen=True)
class Released:
    """A decision a run sent back to pending, and why."""

    review_key: str
    status: Status  # what it was
    reason: str


def release_replaced(
    output_dir: Path,
    snapshot: RunSnapshot,
    reasons: Mapping[str, str],
    rewritten: Collection[str] = (),
) -> tuple[Released, ...]:
    """Send back to pending every decision whose job's images this folder no longer holds.

    A decision made on images (sha256) is released when the state records other images at
    its job's outputs and the files on disk are not the decided ones either (a state behind the
    disk, e.g. images and review.yaml pulled from git, keeps it). One without sha256 (a hand
    edit) is released when its review key is in `rewritten`: the jobs this run wrote.
    `reasons`: by review key, what replaced the images ("recipe changed: prompt").
    A retake (the job at another take than the decision) is left to settle_takes.
    """
    jobs = {review_key(job.outputs): job for job in snapshot.jobs if job.outputs}
    released: list[Released] = []

    def release(review: Review) -> Review:
        released.clear()
        changed = dict(review.decisions)
        for key, decision in review.decisions.items():
            job = jobs.get(key)
            if job is None or job.take != decision.take:
                continue
            if not _replaced(output_dir, job, decision, key in rewritten):
                continue
            reason = reasons.get(key, DEFAULT_REASON)
            changed[key] = decision.released(reason)
            released.append(Released(key, decision.status, reason))
        return Review(changed) if released else review

    # A first look without the lock: most runs release nothing, and then write nothing (no
    # review.yaml appears in a folder that had none).
    release(load_review(output_dir))
    if released:
        update_review(output_dir, release)
    return tuple(released)


def _replaced(output_dir: Path, job: JobRecord, decision: Decision, rewritten: bool) -> bool:
    images = current_images(job)
    found = binding(decision, images)
    if found == "unbound":
        return rewritten and all(images)
    if found != "replaced":
        return False
    on_disk = tuple(sha256_of(output_dir / output) for output in job.outputs)
    return on_disk != tuple(decision.sha256)
