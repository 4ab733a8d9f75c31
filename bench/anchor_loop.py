"""The benchmarks' anchor: a hand-written asyncio + httpx loop that is told the server's limit.

Run as its own process, timed whole (start-up, uploads, generations, downloads), like `backdrop
run`. It uploads each source image once, then sends one generation per job either on an absolute
schedule (`--rate R`: the k-th API request, uploads and retries included, at start + k / R,
whatever came back) or from a fixed number of workers (`--concurrency C`: as many in flight as
the server's cap), downloads each result and writes it. A 429 (rare: on a loaded machine a late
wake-up sends the overdue slots at once) waits its Retry-After, is retried and counted.

The recipe folder is the one bench_pacing.py writes: images/product-K.png for K in 0..7, job i
uses product i % 8 with the prompt "scene i".

Usage: python bench/anchor_loop.py --api URL --root DIR --jobs N (--rate R | --concurrency C)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import deque
from pathlib import Path

import httpx

API_KEY = "bench-key"
SOURCES = 8


def prompt_object(index: int, image_url: str) -> dict[str, object]:
    return {
        "imageUrl": image_url,
        "prompt": f"scene {index}",
        "size": "1024x1024",
        "n": 1,
        "quality": "low",
        "output_format": "png",
        "output_compression": 80,
    }


class Schedule:
    """Every API request on one absolute schedule: the k-th slot at start + k / rate. A request
    refused with 429 waits its Retry-After, then takes the next slot before any new request.
    Time with nothing to send is not saved up for a burst later."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.slots = 0
        self.retries: deque[asyncio.Future[None]] = deque()
        self.new: deque[asyncio.Future[None]] = deque()
        self.waiting = asyncio.Event()

    async def turn(self, *, retry: bool) -> None:
        """Wait for this request's slot."""
        slot = asyncio.get_running_loop().create_future()
        (self.retries if retry else self.new).append(slot)
        self.waiting.set()
        await slot

    async def run(self) -> None:
        while True:
            if not (self.retries or self.new):
                self.waiting.clear()
                await self.waiting.wait()
                now_slot = math.ceil((time.monotonic() - self.start) * self.rate)
                self.slots = max(self.slots, now_slot)
            await asyncio.sleep(max(0.0, self.start + self.slots / self.rate - time.monotonic()))
            self.slots += 1
            queue = self.retries or self.new
            slot = queue.popleft()
            if not slot.done():
                slot.set_result(None)


class Anchor:
    def __init__(
        self, http: httpx.AsyncClient, api: str, root: Path, schedule: Schedule | None
    ) -> None:
        self.http, self.api, self.root, self.schedule = http, api, root, schedule
        self.keys: list[str] = []
        self.refused = 0

    async def post(self, path: str, **kwargs: object) -> httpx.Response:
        retry = False
        while True:
            if self.schedule is not None:
                await self.schedule.turn(retry=retry)
            answer = await self.http.post(f"{self.api}{path}", **kwargs)  # type: ignore[arg-type]
            if answer.status_code != 429:
                return answer.raise_for_status()
            self.refused += 1
            retry = True
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))

    async def upload_sources(self) -> None:
        for k in range(SOURCES):
            path = self.root / "images" / f"product-{k}.png"
            files = {"asset": (path.name, path.read_bytes(), "image/png")}
            answer = await self.post("/api/assets", files=files)
            self.keys.append(answer.json()["fileContent"]["path"])

    async def job(self, index: int) -> None:
        body = {
            "type": "BACKGROUND_REPLACER",
            "model": "gpt-image-1",
            "promptObject": prompt_object(index, self.keys[index % SOURCES]),
        }
        record = (await self.post("/api/features", json=body)).json()["aiRecord"]
        image = (await self.http.get(record["temporaryUrl"])).raise_for_status()
        target = self.root / "anchor-out" / f"scene-{index}.png"
        await asyncio.to_thread(target.write_bytes, image.content)


async def main_async(args: argparse.Namespace) -> int:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=32)
    async with httpx.AsyncClient(
        limits=limits, timeout=600.0, headers={"API-KEY": API_KEY}
    ) as http:
        schedule = Schedule(args.rate) if args.rate else None
        ticker = asyncio.ensure_future(schedule.run()) if schedule else None
        anchor = Anchor(http, args.api.rstrip("/"), Path(args.root), schedule)
        (anchor.root / "anchor-out").mkdir(exist_ok=True)
        try:
            await anchor.upload_sources()
            if schedule is not None:
                await asyncio.gather(*(anchor.job(i) for i in range(args.jobs)))
            else:
                pending = iter(range(args.jobs))

                async def worker() -> None:
                    for index in pending:
                        await anchor.job(index)

                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        finally:
            if ticker is not None:
                ticker.cancel()
        return anchor.refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--api", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--jobs", type=int, required=True)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--rate", type=float, help="generations per second, on a schedule")
    group.add_argument("--concurrency", type=int, help="generations in flight")
    refused = asyncio.run(main_async(parser.parse_args()))
    if refused:
        print(f"anchor: {refused} requests answered 429", file=sys.stderr)


if __name__ == "__main__":
    main()
