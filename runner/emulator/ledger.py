"""What the emulator charged (the ledger) and what it answered (request statistics)."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LedgerEntry:
    """One charged generation."""

    seq: int  # 1, 2, 3 ... in charging order
    uuid: str
    prompt: str
    prompt_sha256: str
    imageUrl: str
    n: int
    quality: str
    size: str
    output_format: str
    output_compression: int
    credits: int
    results: tuple[str, ...]
    # answered 504, or hung up, although charged (as slow generations can)
    failed_after_charge: bool
    at: float  # Unix time

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["results"] = list(self.results)
        return data


class Ledger:
    """Every charged generation and the credits used, in memory."""

    def __init__(self, credit_limit: int) -> None:
        self.credit_limit = credit_limit
        self.used = 0
        self.entries: list[LedgerEntry] = []

    def restore(self, entries: list[LedgerEntry]) -> None:
        """Carry on from the charges an earlier emulator saved (see persist.py)."""
        self.entries.extend(entries)
        self.used += sum(entry.credits for entry in entries)

    def can_afford(self, credits: int) -> bool:
        return self.used + credits <= self.credit_limit

    def charge(
        self,
        *,
        uuid: str,
        prompt_object: dict[str, Any],
        credits: int,
        results: tuple[str, ...],
        failed_after_charge: bool,
    ) -> LedgerEntry:
        self.used += credits
        prompt = str(prompt_object["prompt"])
        entry = LedgerEntry(
            seq=self.entries[-1].seq + 1 if self.entries else 1,
            uuid=uuid,
            prompt=prompt,
            prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
            imageUrl=str(prompt_object["imageUrl"]),
            n=int(prompt_object["n"]),
            quality=str(prompt_object["quality"]),
            size=str(prompt_object["size"]),
            output_format=str(prompt_object["output_format"]),
            output_compression=int(prompt_object["output_compression"]),
            credits=credits,
            results=results,
            failed_after_charge=failed_after_charge,
            at=time.time(),
        )
        self.entries.append(entry)
        return entry

    def to_json(self) -> list[dict[str, Any]]:
        return [entry.to_json() for entry in self.entries]


class Stats:
    """Answers counted by route and status, for benchmarks and tests."""

    def __init__(self) -> None:
        self.by_route: dict[str, Counter[str]] = {}
        self.in_flight = 0
        self.max_in_flight = 0  # concurrent generations at the busiest moment

    def reset(self) -> None:
        self.by_route.clear()
        self.max_in_flight = self.in_flight

    def count(self, route: str, status: str) -> None:
        counter = self.by_route.get(route)
        if counter is None:
            counter = self.by_route[route] = Counter()
        counter[status] += 1

    def enter_generation(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave_generation(self) -> None:
        self.in_flight -= 1

    def to_json(self) -> dict[str, Any]:
        api = [c for route, c in self.by_route.items() if " /api/" in route]
        return {
            "routes": {
                route: dict(sorted(c.items())) for route, c in sorted(self.by_route.items())
            },
            "api_requests": sum(sum(c.values()) for c in api),
            "api_429": sum(c["429"] for c in api),
            "api_5xx": sum(n for c in api for status, n in c.items() if status.startswith("5")),
            "dropped": sum(c["dropped"] for c in self.by_route.values()),
            "truncated": sum(c["truncated"] for c in self.by_route.values()),
            "max_in_flight": self.max_in_flight,
        }
