"""What a job's templates see, and how a name missing from it is worded.

A job's context is the recipe's `vars` and the template globals, with the job's matrix values
over them, and `recipe`. It is layered rather than copied: a recipe may hold 60,000 `vars`,
and copying them for each of 2,000 jobs was 120 million dict insertions. The message for an
undefined name lists the variables and suggests the closest; among 60,000 names that is
worked out once per name and per plan, not once per job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from runner.diagnostics import suggestion_suffix

SHOWN_NAMES = 30  # names a hint lists before "and N more"


class JobContext(Mapping[str, Any]):
    """`job` over `shared`, as {**shared, **job} would be, without the copy."""

    __slots__ = ("job", "shared")

    def __init__(self, shared: Mapping[str, Any], job: Mapping[str, Any]) -> None:
        self.shared = shared
        self.job = job

    def __getitem__(self, key: str) -> Any:
        job = self.job
        return job[key] if key in job else self.shared[key]

    def __contains__(self, key: object) -> bool:
        return key in self.job or key in self.shared

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get, without its try/except around __getitem__ (every render reads its names)
        job = self.job
        return job[key] if key in job else self.shared.get(key, default)

    def __iter__(self) -> Iterator[str]:
        yield from self.shared
        yield from (key for key in self.job if key not in self.shared)

    def __len__(self) -> int:
        return len(self.shared) + sum(key not in self.shared for key in self.job)


class NameMessages:
    """The did-you-mean and the list of variables for an undefined name, remembered per name
    (and per set of job-level names) when the context is a JobContext."""

    def __init__(self, hidden: frozenset[str]) -> None:
        self._hidden = hidden  # names never listed (Jinja's globals)
        self._said: dict[tuple[Any, ...], tuple[str, str]] = {}
        self._owners: dict[int, tuple[Mapping[str, Any], dict[int, str]]] = {}

    def undefined(self, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """(the did-you-mean suffix, the hint listing the variables) for `name`."""
        key: tuple[Any, ...] | None = None
        if isinstance(context, JobContext):
            key = (name, id(context.shared), tuple(context.job))
            said = self._said.get(key)
            if said is not None:
                return said
        visible = [item for item in context if item not in self._hidden]
        said = (suggestion_suffix(name, visible), f"the variables here are: {_listed(visible)}")
        if key is not None:
            self._said[key] = said
        return said

    def owner(self, value: Any, context: Mapping[str, Any]) -> str | None:
        """The variable that holds `value` (by identity), if any."""
        if not isinstance(context, JobContext):
            return next((key for key, item in context.items() if item is value), None)
        shared = context.shared
        cached = self._owners.get(id(shared))
        if cached is None or cached[0] is not shared:
            by_id: dict[int, str] = {}
            for key, item in shared.items():
                by_id.setdefault(id(item), key)
            cached = self._owners[id(shared)] = (shared, by_id)
        found = cached[1].get(id(value))
        if found is not None and found not in context.job:
            return found
        return next((key for key, item in context.job.items() if item is value), None)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    more = len(names) - SHOWN_NAMES
    return f"{shown}, and {more:,} more" if more > 0 else shown
