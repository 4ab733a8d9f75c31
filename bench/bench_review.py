"""Benchmark: the review page and review.yaml for 1,000 and 5,000 jobs.

Builds, in a temporary folder, a recorded run of N jobs (n = 2, no image files: the page's own
cost, not the thumbnails') and a review.yaml with a decision for every job. Then times: a first
load of the decisions (parse and check), one decision written through the merge path (lock,
re-read, write, fsync), and over real loopback HTTP the page's first load (the shell, the index of
every job, the first page of cards: three GETs, as its script makes them) and a click (POST),
averaged over 30 clicks. bench_review_browser.py measures the same in a real browser.

Run: .venv/bin/python bench/bench_review.py
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.plan.plan_model import ImageSource, Job, Plan, PromptObject
from runner.recipe.model import DEFAULT_PRICES, ReportLayout
from runner.records.state import StateStore
from runner.review import decisions
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import load_review, save_review, set_decision, with_status
from runner.review.review_app import TOKEN_HEADER
from runner.review.review_server import ReviewServer, state_images

CLICKS = 30


def recorded_run(out: Path, count: int) -> list[str]:
    """A run of `count` jobs in the state; returns their review keys."""
    sha = hashlib.sha256(b"source").hexdigest()
    image = ImageSource("file", "images/mug.png", Path("/src/mug.png"), sha, "image/png")
    jobs = tuple(
        Job(
            key=hashlib.sha256(str(i).encode()).hexdigest()[:16],
            index=i,
            vars={"product": f"P{i % 50}", "market": f"m{i % 20}", "season": f"s{i % 4}"},
            label=f"product=P{i % 50} market=m{i % 20} season=s{i % 4}",
            image=image,
            prompt_object=PromptObject(f"mug {i}", "1024x1024", 2, "low", "png", 100),
            outputs=(f"m{i % 20}/job-{i:05d}-1.png", f"m{i % 20}/job-{i:05d}-2.png"),
        )
        for i in range(count)
    )
    plan = Plan(
        "bench",
        Path("/src/recipe.yaml"),
        out,
        ("product", "market", "season"),
        jobs,
        DEFAULT_PRICES,
        ReportLayout(),
    )
    with StateStore.open(out) as store:
        store.begin_run(plan, "run-1")
        store.finish_run("run-1")
    return [review_key(job.outputs) for job in jobs]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench(count: int) -> None:
    out = Path(tempfile.mkdtemp(prefix="backdrop-bench-review-")) / "out"
    keys = recorded_run(out, count)
    save_review(out, Review({key: Decision("approved", pick=2) for key in keys}))
    load_review(Path(tempfile.mkdtemp()))  # imports, outside the figure
    decisions._LAST_SEEN.seen.clear()  # a first read: parse and check every decision
    load_s = timed(lambda: load_review(out))
    write_s = timed(lambda: set_decision(out, keys[0], lambda d: with_status(d, "rejected", "x")))
    size = (out / "review.yaml").stat().st_size
    read = lambda: StateStore.read_snapshot(out)  # noqa: E731
    with ReviewServer(out, read, images_at=state_images(out)) as server, httpx.Client() as http:
        sizes: list[int] = []

        def first_load() -> None:
            shell = http.get(server.url, timeout=120).raise_for_status()
            version = re.search(r'data-version="([^"]*)"', shell.text)
            assert version is not None
            query = {"token": server.token, "version": version.group(1)}
            index = http.get(f"{server.base_url}/api/index", params=query).raise_for_status()
            at = ",".join(map(str, range(min(count, index.json()["page_size"]))))
            cards = http.get(f"{server.base_url}/api/jobs", params={**query, "at": at})
            cards.raise_for_status()
            sizes[:] = [len(shell.content), len(index.content), len(cards.content)]

        page_s = timed(first_load)
        html = sum(sizes)
        headers = {"Origin": server.base_url, TOKEN_HEADER: server.token}
        url = f"{server.base_url}/api/decision"

        def clicks() -> None:
            for key in keys[:CLICKS]:
                body = {"job": key, "action": "reject", "note": "too dark"}
                http.post(url, json=body, headers=headers).raise_for_status()

        click_s = timed(clicks) / CLICKS
    print(
        f"{count:>6,} jobs | review.yaml {size / 1024:,.0f} KiB: load {load_s * 1000:,.0f} ms, "
        f"one merged write {write_s * 1000:,.0f} ms | first load {page_s * 1000:,.0f} ms "
        f"({html / 1024:,.0f} KiB) | click {click_s * 1000:,.0f} ms"
    )


def main() -> None:
    for count in (1_000, 5_000):
        bench(count)


if __name__ == "__main__":
    main()
