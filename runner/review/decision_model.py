"""review.yaml's model: each job's decision, its earlier takes, and the key that names the job.

Plain values with no file access, so that reading and writing the file (decisions.py) and
rendering it as text (render.py) both build on them without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

Status = Literal["pending", "approved", "rejected"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "rejected")

MAX_HISTORY = 1000  # as schemas/review.schema.json; the oldest entries go first


@dataclass(frozen=True)
class EarlierTake:
    """An earlier decision on this job, as it was decided then."""

    take: int
    status: Status
    pick: int | None = None
    note: str | None = None
    reason: str | None = None  # why it ended without a new take: "recipe changed: prompt"


@dataclass(frozen=True)
class Decision:
    """One job's decision. The default is a first take nobody has looked at yet."""

    status: Status = "pending"
    pick: int | None = None  # the chosen variant, 1-based; only meaningful when n > 1
    note: str | None = None
    take: int = 1
    history: tuple[EarlierTake, ...] = ()  # oldest first
    # The SHA-256 of each variant the decision was made on, variant 1 first; () when pending,
    # or when written by hand without them (then an approval delivers nothing: binding.py).
    sha256: tuple[str, ...] = ()

    def next_take(self) -> Decision:
        """The decision once the job is generated again: pending, with this take in history."""
        earlier = EarlierTake(self.take, self.status, self.pick, self.note)
        return Decision(take=self.take + 1, history=_appended(self.history, earlier))

    def released(self, reason: str) -> Decision:
        """Back to pending because its images were replaced; this decision kept in history."""
        earlier = EarlierTake(self.take, self.status, self.pick, self.note, reason)
        return Decision(take=self.take, history=_appended(self.history, earlier))


def _appended(history: tuple[EarlierTake, ...], earlier: EarlierTake) -> tuple[EarlierTake, ...]:
    return (*history, earlier)[-MAX_HISTORY:]


PENDING = Decision()


@dataclass(frozen=True)
class Review:
    """Every decision in an output folder, by job key."""

    decisions: Mapping[str, Decision] = field(default_factory=dict)

    def decision(self, key: str) -> Decision:
        return self.decisions.get(key, PENDING)

    def with_decision(self, key: str, decision: Decision) -> Review:
        return Review({**self.decisions, key: decision})


def review_key(outputs: Sequence[str]) -> str:
    """A job's key in review.yaml, from its output paths: the path without extension (or `-1`)."""
    first = outputs[0]
    if _plain_path(first):  # what the planner writes: PurePosixPath would give it back as it is
        name = first[first.rfind("/") + 1 :]
        dot = name.rfind(".")
        stem = first[: len(first) - len(name) + dot] if 0 < dot < len(name) - 1 else first
    else:
        stem = str(PurePosixPath(first).with_suffix(""))
    return stem.removesuffix("-1") if len(outputs) > 1 else stem


def _plain_path(path: str) -> bool:
    """A relative POSIX path without empty or `.` parts, that PurePosixPath leaves as it is.
    (`status` and the review page compute thousands of keys: pathlib took a tenth of status.)"""
    return (
        bool(path)
        and not path.startswith("/")
        and "//" not in path
        and "/./" not in f"/{path}/"
        and not path.endswith("/")
    )


def orphaned(review: Review, keys: Iterable[str]) -> tuple[str, ...]:
    """Decided jobs that the plan no longer has, sorted: kept in the file, but worth a warning."""
    known = set(keys)
    return tuple(sorted(key for key in review.decisions if key not in known))
