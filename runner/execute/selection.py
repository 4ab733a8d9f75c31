"""Which of a plan's jobs a run takes: --only, --shard, --retry-failed and --limit."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.diagnostics import UsageError, suggestion_suffix
from runner.plan.jobs import label_value
from runner.plan.plan_model import Job

_MAX_LISTED = 20  # known values listed in an error before "..."


@dataclass(frozen=True)
class Shard:
    """The K-th (1-based) of N deterministic slices of the jobs, by job key."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise UsageError(
                f"--shard {self.index}/{self.count}: the number of shards must be at least 1",
                hint="write --shard K/N, e.g. --shard 1/4",
            )
        if not 1 <= self.index <= self.count:
            raise UsageError(
                f"--shard {self.index}/{self.count}: K must be between 1 and {self.count}",
                hint=f"shards are numbered 1 to {self.count}",
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.strip().partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise UsageError(
                f"--shard {text!r} is not of the form K/N",
                hint="write --shard K/N with whole numbers, e.g. --shard 2/4",
            )
        return cls(int(index), int(count))

    def contains(self, key: str) -> bool:
        try:
            number = int(key[:16], 16)
        except ValueError:  # job keys are hex digests; anything else still shards stably
            number = int(hashlib.sha256(key.encode()).hexdigest()[:16], 16)
        return number % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Selection:
    """Filters on the plan's jobs. `only` holds (dotted key, value) pairs as given."""

    only: tuple[tuple[str, str], ...] = ()
    limit: int | None = None
    shard: Shard | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise UsageError(
                f"--limit {self.limit}: the limit must be at least 1",
                hint="--limit N runs the first N jobs, e.g. --limit 3",
            )

    @classmethod
    def from_cli(
        cls, only: Sequence[str] = (), limit: int | None = None, shard: str | None = None
    ) -> Selection:
        return cls(
            only=tuple(parse_only(item) for item in only),
            limit=limit,
            shard=Shard.parse(shard) if shard is not None else None,
        )


def parse_only(text: str) -> tuple[str, str]:
    """ "market.code=fr-FR" -> ("market.code", "fr-FR")."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(
            f"--only {text!r} is not of the form KEY=VALUE",
            hint="write --only season=spring, or --only market.code=fr-FR for a nested value",
        )
    return key, value.strip()


def select_jobs(
    jobs: Sequence[Job],
    selection: Selection,
    *,
    failed_keys: Collection[str] | None = None,
    keys: Collection[str] | None = None,
) -> tuple[Job, ...]:
    """The jobs a run takes, in plan order. `failed_keys` (for --retry-failed) and `keys` (for
    --rejected) keep only those."""
    matchers = _only_matchers(jobs, selection.only)
    picked: list[Job] = []
    for job in jobs:
        if matchers and not all(_matches(job.vars, matcher) for matcher in matchers):
            continue
        if selection.shard is not None and not selection.shard.contains(job.key):
            continue
        if failed_keys is not None and job.key not in failed_keys:
            continue
        if keys is not None and job.key not in keys:
            continue
        picked.append(job)
        if selection.limit is not None and len(picked) >= selection.limit:
            break
    return tuple(picked)


def value_text(value: object) -> str:
    """How a matrix value is written on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


@dataclass(frozen=True)
class _Matcher:
    path: tuple[str, ...]
    values: frozenset[str]
    by_label: bool  # a mapping value, named as job labels show it (its first plain value)


def _only_matchers(jobs: Sequence[Job], only: Sequence[tuple[str, str]]) -> list[_Matcher]:
    """Group --only by key (OR within a key, AND across keys), checking keys and values exist."""
    grouped: dict[str, set[str]] = {}
    for key, value in only:
        grouped.setdefault(key, set()).add(value)
    if not grouped:
        return []
    known, labels = _known_values(jobs)
    matchers = []
    for key, values in grouped.items():
        by_label = key not in known and key in labels
        if key not in known and not by_label:
            names = sorted(known)
            raise UsageError(
                f"--only {key}=...: no matrix value is called {key!r}"
                + suggestion_suffix(key, names),
                hint="known keys: " + _listing(names),
            )
        choices = labels[key] if by_label else known[key]
        for value in sorted(values):
            if value not in choices:
                fields = sorted(k for k in known if k.startswith(key + "."))
                hint = f"known values of {key}: " + _listing(sorted(choices))
                if by_label:
                    hint += "; or pick a field: " + ", ".join(f"--only {f}=..." for f in fields[:5])
                raise UsageError(
                    f"--only {key}={value}: no job has {key} = {value!r}"
                    + suggestion_suffix(value, choices),
                    hint=hint,
                )
        matchers.append(_Matcher(tuple(key.split(".")), frozenset(values), by_label))
    return matchers


def _matches(vars: Mapping[str, Any], matcher: _Matcher) -> bool:
    node: Any = vars
    for part in matcher.path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    if isinstance(node, Mapping):
        return matcher.by_label and label_value(node) in matcher.values
    return not isinstance(node, list) and value_text(node) in matcher.values


def _known_values(jobs: Iterable[Job]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Every plain value by dotted key, and every mapping's label by its key."""
    known: dict[str, set[str]] = {}
    labels: dict[str, set[str]] = {}
    for job in jobs:
        _collect(job.vars, "", known, labels)
    return known, labels


def _collect(
    node: Mapping[str, Any], prefix: str, known: dict[str, set[str]], labels: dict[str, set[str]]
) -> None:
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            labels.setdefault(key, set()).add(label_value(value))
            _collect(value, key + ".", known, labels)
        elif not isinstance(value, list):
            known.setdefault(key, set()).add(value_text(value))


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _MAX_LISTED else "")
