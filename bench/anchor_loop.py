"""The benchmarks' anchor: a hand-written asyncio + httpx loop that is told the server's limit.

Run as its own process, timed whole (start-up, uploads, generations, downloads), like `backdrop
run`. It uploads each source image once, then sends one generation per job either on an absolute
schedule (`--rate R`: the i-th API request, uploads included, at start + i / R, whatever came
back) or from a fixed number of
workers (`--concurrency C`: as many in flight as the server's cap), downloads each result and
writes it. A 429 (which it should never get) is retried after its Retry-After and counted.

The recipe folder is the one bench_pacing.py writes: images/product-K.png for K in 0..7, job i
uses product i % 8 with the prompt "scene i".

Usage: python bench/anchor_loop.py --api URL --root DIR --jobs N (--rate R | --concurrency C)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
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


class Anchor:
    def __init__(self, http: httpx.AsyncClient, api: str, root: Path) -> None:
        self.http, self.api, self.root = http, api, root
        self.keys: list[str] = []
        self.refused = 0

    async def post(self, path: str, **kwargs: object) -> httpx.Response:
        while True:
            answer = await self.http.post(f"{self.api}{path}", **kwargs)  # type: ignore[arg-type]
            if answer.status_code != 429:
                return answer.raise_for_status()
            self.refused += 1
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))

    async def upload_sources(self, rate: float | None) -> None:
        start = time.monotonic()
        for k in range(SOURCES):
            if rate:  # uploads count against the rate too
                await asyncio.sleep(max(0.0, start + k / rate - time.monotonic()))
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
        anchor = Anchor(http, args.api.rstrip("/"), Path(args.root))
        (anchor.root / "anchor-out").mkdir(exist_ok=True)
        start = time.monotonic()
        await anchor.upload_sources(args.rate)
        if args.rate:

            async def scheduled(index: int) -> None:
                due = start + (SOURCES + index) / args.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await anchor.job(index)

            await asyncio.gather(*(scheduled(i) for i in range(args.jobs)))
        else:
            pending = iter(range(args.jobs))

            async def worker() -> None:
                for index in pending:
                    await anchor.job(index)

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
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
