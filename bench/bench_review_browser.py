"""Benchmark: the review page of a 5,000-job run in a real browser (Playwright, Debian's Chromium).

Builds, in a temporary folder, a recorded run of N jobs (n = 2, a small real JPEG per variant,
products as mappings like a CSV row) with a decision for every job, serves it as `backdrop
review` does, and measures in headless Chromium:

- first load: the bytes of the page and of what its script fetches to draw the first page
  (document, JSON; the next page fetched ahead and the thumbnails counted apart), and the time
  from navigation to the first job on screen;
- click: Reject pressed on a job until its card shows the saved decision, painted (the mean and
  the worst of 20 jobs);
- next page (a paged page only): `j` on the last job of a page until the next page's first job
  is current and painted (the mean of 5, a second apart: a reviewer looks at a page first).

Run: .venv/bin/python bench/bench_review_browser.py [JOBS [PAGE_SIZE]]   (default 5000, the page's)
"""

from __future__ import annotations

import hashlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.plan.plan_model import ImageSource, Job, Plan, PromptObject
from runner.recipe.model import DEFAULT_PRICES, ReportLayout
from runner.records.run_records import FileRecord
from runner.records.state import StateStore
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import save_review
from runner.review.review_server import ReviewServer, state_images

CLICKS = 20
TURNS = 5

# Resolves, after the next paint, with the milliseconds since `start`.
_PAINTED = (
    "(start) => new Promise(done => requestAnimationFrame("
    "() => setTimeout(() => done(performance.now() - start))))"
)

CLICK = """async (key) => {
  const card = document.querySelector(`[data-job="${CSS.escape(key)}"]`);
  const start = performance.now();
  const saved = new Promise(done => {
    const watch = new MutationObserver(() => {
      if (card.getAttribute("data-status") === "rejected") { watch.disconnect(); done(); }
    });
    watch.observe(card, {attributes: true});
  });
  card.querySelector('[data-action="reject"]').click();
  await saved;
  return await (PAINTED)(start);
}""".replace("PAINTED", _PAINTED)

# j pressed on the last job of a page: the time until another job is current, painted.
TURN = """async () => {
  const jobs = [...document.querySelectorAll("[data-job]")].filter(job => !job.hidden);
  const last = jobs[jobs.length - 1];
  last.querySelector('[data-action="pending"]').focus();
  document.activeElement.blur();
  last.dispatchEvent(new MouseEvent("click", {bubbles: true}));
  const before = document.querySelector(".job.current");
  const start = performance.now();
  const moved = new Promise(done => {
    const watch = new MutationObserver(() => {
      const now = document.querySelector(".job.current");
      if (now && now !== before && now.isConnected) { watch.disconnect(); done(); }
    });
    watch.observe(document.body, {attributes: true, childList: true, subtree: true});
  });
  document.dispatchEvent(new KeyboardEvent("keydown", {key: "j", bubbles: true}));
  await moved;
  return await (PAINTED)(start);
}""".replace("PAINTED", _PAINTED)


def _jpeg(seed: int) -> bytes:
    image = Image.new("RGB", (96, 64), (seed % 256, (seed * 7) % 256, (seed * 13) % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def recorded_run(out: Path, count: int) -> list[str]:
    """A run of `count` done jobs (two small JPEGs each) in the state; their review keys."""
    sha = hashlib.sha256(b"source").hexdigest()
    image = ImageSource("file", "images/mug.png", Path("/src/mug.png"), sha, "image/png")
    jobs = tuple(
        Job(
            key=hashlib.sha256(str(i).encode()).hexdigest()[:16],
            index=i,
            vars={
                "product": {"sku": f"P-{i % 50:03d}", "name": f"product {i % 50}"},
                "market": f"m{i % 20}",
                "season": f"s{i % 4}",
            },
            label=f"product=P-{i % 50:03d} market=m{i % 20} season=s{i % 4}",
            image=image,
            prompt_object=PromptObject(
                f"product {i % 50} on a table in season s{i % 4}, soft light",
                "1024x1024",
                2,
                "low",
                "jpeg",
                70,
            ),
            outputs=(f"m{i % 20}/job-{i:05d}-1.jpg", f"m{i % 20}/job-{i:05d}-2.jpg"),
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
        for job in jobs:
            for number, relative in enumerate(job.outputs):
                data = _jpeg(job.index * 2 + number)
                (out / relative).parent.mkdir(parents=True, exist_ok=True)
                (out / relative).write_bytes(data)
                record = FileRecord(relative, hashlib.sha256(data).hexdigest(), 96, 64, len(data))
                store.record_file(job.key, number, record)
            store.mark_done(job.key)
        store.finish_run("run-1")
    return [review_key(job.outputs) for job in jobs]


def measure(url: str, chromium: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.playwright_support import ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            responses: list[Any] = []
            tab.on("response", lambda response: responses.append(response))
            start = time.perf_counter()
            tab.goto(url, wait_until="commit")
            tab.wait_for_selector("[data-job]")
            first_s = time.perf_counter() - start
            tab.wait_for_load_state("load")
            page_bytes = image_bytes = ahead_bytes = 0
            cards = 0
            for response in responses:
                size = int(response.header_value("content-length") or 0)
                if response.request.resource_type == "image":
                    image_bytes += size
                elif "/api/jobs?" in response.url and (cards := cards + 1) > 1:
                    ahead_bytes += size  # the next page, fetched ahead once this one is drawn
                else:
                    page_bytes += size
            keys = tab.evaluate(
                f"[...document.querySelectorAll('[data-job]')].slice(0, {CLICKS})"
                ".map(job => job.getAttribute('data-job'))"
            )
            clicks = [tab.evaluate(CLICK, key) for key in keys]
            paged = tab.locator("[data-page=next]:visible").count() > 0  # more than one page
            turns = []
            for _ in range(TURNS if paged else 0):
                tab.wait_for_timeout(1000)  # a reviewer looks at a page before leaving it
                turns.append(tab.evaluate(TURN))
        finally:
            browser.close()
    return {
        "first_s": first_s,
        "page_bytes": page_bytes,
        "image_bytes": image_bytes,
        "ahead_bytes": ahead_bytes,
        "click_ms": statistics.mean(clicks),
        "click_max_ms": max(clicks),
        "turn_ms": statistics.mean(turns) if turns else None,
    }


def main() -> None:
    try:
        import playwright  # noqa: F401

        from tests.playwright_support import find_chromium
    except ImportError:
        print("bench_review_browser: skipped, it needs the test dependencies (make test)")
        return
    chromium = find_chromium()
    if chromium is None:
        print("bench_review_browser: skipped, no Chromium (bash scripts/ensure-chromium.sh)")
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    out = Path(tempfile.mkdtemp(prefix="backdrop-bench-review-browser-")) / "out"
    keys = recorded_run(out, count)
    save_review(out, Review({key: Decision("approved", pick=2) for key in keys}))
    read = lambda: StateStore.read_snapshot(out)  # noqa: E731
    page_size = int(sys.argv[2]) if len(sys.argv) > 2 else None
    with ReviewServer(out, read, images_at=state_images(out), page_size=page_size) as server:
        found = measure(server.url, chromium)
    turn = "" if found["turn_ms"] is None else f" | next page {found['turn_ms']:,.0f} ms"
    print(
        f"{count:>6,} jobs | first load {found['first_s'] * 1000:,.0f} ms, "
        f"{found['page_bytes'] / 1024:,.0f} KiB (+ {found['ahead_bytes'] / 1024:,.0f} KiB of the "
        f"next page, {found['image_bytes'] / 1024:,.0f} KiB of thumbnails) | click"
        f" {found['click_ms']:,.0f} ms (worst {found['click_max_ms']:,.0f})"
        f"{turn}"
    )


if __name__ == "__main__":
    main()
