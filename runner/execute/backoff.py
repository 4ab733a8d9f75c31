"""Exponential backoff with full jitter, overridden by the server's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from runner.api.errors import MAX_RETRY_AFTER_S

__all__ = ["MAX_RETRY_AFTER_S", "Backoff"]


@dataclass(frozen=True)
class Backoff:
    """delay(attempt) = uniform(0, min(cap, base * 2**attempt)); attempt 0 is the first retry."""

    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), MAX_RETRY_AFTER_S)
        ceiling = min(self.cap, self.base * 2.0 ** min(max(0, attempt), 62))
        return self.rng.uniform(0.0, ceiling)
