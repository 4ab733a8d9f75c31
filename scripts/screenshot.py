"""Screenshots of an example report and review page: docs/report.png, docs/review.png.

`make screenshot` runs this.

The example mirrors recipes/spring-campaign.yaml: its two product photos, four seasons and the
markets in recipes/data/markets.csv. Result images come from the emulator's local compositor
when it is available (an offline rehearsal, not AI), otherwise from a plain painted backdrop.
Needs Playwright (the test extra) and headless Chromium (scripts/ensure-chromium.sh installs
Debian's).
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.execute.kept_takes import take_path  # noqa: E402
from runner.records.run_records import FileRecord, GenerationRecord, JobRecord, RunSnapshot  # noqa: E402
from runner.report.writer import write_reports  # noqa: E402
from runner.review.decision_model import (  # noqa: E402
    Decision,
    EarlierTake,
    Review,
    Status,
    review_key,
)
from runner.review.decisions import save_review  # noqa: E402
from runner.review.review_server import ReviewServer  # noqa: E402

SEASONS = ("spring", "summer", "autumn", "winter")
PRODUCTS = (
    {"sku": "MUG-01", "name": "ceramic mug", "image": "images/mug.png"},
    {"sku": "TOTE-02", "name": "linen tote bag", "image": "images/tote.png"},
)
SIZE = "1536x1024"
RUN_ID = "20240501T090000Z-0e1a2b"  # the run that generated the example's images
FAILED = ("MUG-01", "summer", "de-DE")
FAILURE = "The image could not be processed (UNSUPPORTED_CONTENT). Try another source photo."


def result_image(source: Path, prompt: str, variant: int) -> bytes:
    try:
        from runner.emulator.compositor import load_subject, replace_background

        subject = load_subject(source.read_bytes())
        return replace_background(
            subject, prompt=prompt, size=SIZE, output_format="webp", compression=80, variant=variant
        )
    except (ImportError, AttributeError, TypeError, ValueError):
        return _plain_backdrop(source, prompt)


def _plain_backdrop(source: Path, prompt: str) -> bytes:
    seed = hashlib.sha256(prompt.encode()).digest()
    canvas = Image.new("RGB", (1536, 1024), (seed[0], seed[1], seed[2]))
    with Image.open(source) as photo:
        subject = photo.convert("RGBA").resize((640, 640))
    canvas.paste(subject, (448, 192), subject)
    buffer = io.BytesIO()
    canvas.save(buffer, format="WEBP", quality=80)
    return buffer.getvalue()


def build_example(out_dir: Path) -> RunSnapshot:
    recipes = ROOT / "recipes"
    with open(recipes / "data" / "markets.csv", encoding="utf-8", newline="") as handle:
        markets = list(csv.DictReader(handle))
    jobs: list[JobRecord] = []
    for product in PRODUCTS:
        for season in SEASONS:
            for market in markets:
                if season == "winter" and market["code"] == "ja-JP":
                    continue  # the recipe's exclude
                index = len(jobs)
                prompt = (
                    f"{product['name']} on {market['setting']} in {season},\n"
                    "soft natural light, photorealistic, Acme Home colour palette"
                )
                n = (
                    2
                    if (product["sku"], season, market["code"]) == ("MUG-01", "spring", "fr-FR")
                    else 1
                )
                outputs = tuple(
                    f"{market['code']}/{product['sku']}-{season}"
                    + (f"-{i + 1}" if n > 1 else "")
                    + ".webp"
                    for i in range(n)
                )
                failed = (product["sku"], season, market["code"]) == FAILED
                files: list[FileRecord] = []
                source = recipes / product["image"]
                for variant, relative in enumerate(outputs):
                    if failed:
                        break
                    data = result_image(source, prompt, variant)
                    (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
                    (out_dir / relative).write_bytes(data)
                    with Image.open(io.BytesIO(data)) as image:
                        width, height = image.size
                    files.append(
                        FileRecord(
                            relative, hashlib.sha256(data).hexdigest(), width, height, len(data)
                        )
                    )
                vars_ = {"product": product, "season": season, "market": market}
                jobs.append(
                    JobRecord(
                        key=hashlib.sha256(prompt.encode()).hexdigest()[:16],
                        index=index,
                        label=f"product={product['sku']} season={season} market={market['code']}",
                        vars=vars_,
                        image_kind="file",
                        image_ref=product["image"],
                        image_path=str(source),
                        prompt_object={
                            "prompt": prompt,
                            "size": SIZE,
                            "n": n,
                            "quality": "medium",
                            "output_format": "webp",
                            "output_compression": 85,
                        },
                        outputs=outputs,
                        status="failed" if failed else "done",
                        attempts=1,
                        error=FAILURE if failed else None,
                        record_uuid=None if failed else f"example-{index:04d}",
                        files=tuple(files),
                        duration_s=48.0 + index % 7,
                    )
                )
    return RunSnapshot(
        recipe_name="spring-campaign",
        recipe_path="recipes/spring-campaign.yaml",
        run_id=RUN_ID,
        started_at="2024-05-01T09:00:00+00:00",
        finished_at="2024-05-01T09:04:12+00:00",
        tool_version="0.1.0",
        axes=("product", "season", "market"),
        report_rows=None,
        report_columns=None,
        estimated_cost_usd=round(sum(len(job.outputs) for job in jobs) * 0.063, 4),
        jobs=tuple(jobs),
        generations=tuple(
            GenerationRecord(job.record_uuid, job.key, RUN_ID, len(job.outputs), "medium", SIZE)
            for job in jobs
            if job.record_uuid is not None
        ),
    )


def example_review(snapshot: RunSnapshot, out_dir: Path) -> Review:
    """A review half done: a few approved (one with a picked variant), one rejected, and one
    regenerated after a rejection, with its take 1 kept to compare."""
    jobs = {job.label: job for job in snapshot.jobs}
    mug = "product=MUG-01 season={} market={}"

    def decided(label: str, status: Status, **fields: Any) -> tuple[str, Decision]:
        job = jobs[label]  # decided on its images, as the page decides
        images = tuple(f.sha256 for f in job.files)
        return review_key(job.outputs), Decision(status, sha256=images, **fields)

    retake = jobs[mug.format("autumn", "fr-FR")]
    for output in retake.outputs:  # take 1: another picture of the same request
        kept = out_dir / take_path(output, 1)
        kept.parent.mkdir(parents=True, exist_ok=True)
        prompt = str(retake.prompt_object["prompt"])
        kept.write_bytes(result_image(Path(retake.image_path or ""), prompt, 1))
    earlier = EarlierTake(1, "rejected", None, "wrong season")
    return Review(
        dict(
            [
                decided(mug.format("spring", "fr-FR"), "approved", pick=2),
                decided(mug.format("spring", "de-DE"), "approved"),
                decided(mug.format("spring", "ja-JP"), "rejected", note="too dark for spring"),
                (review_key(retake.outputs), Decision(take=2, history=(earlier,))),
            ]
        )
    )


def main() -> int:
    from playwright.sync_api import sync_playwright

    from tests.playwright_support import ARGS, find_chromium

    chromium = find_chromium()
    if chromium is None:
        print("Chromium is not installed: run `bash scripts/ensure-chromium.sh` first.")
        return 1
    docs = ROOT / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="backdrop-screenshot-") as temp:
        out_dir = Path(temp) / "out" / "spring-campaign"
        snapshot = build_example(out_dir)
        paths = write_reports(snapshot, out_dir)
        save_review(out_dir, example_review(snapshot, out_dir))
        with (
            sync_playwright() as playwright,
            ReviewServer(out_dir, lambda: snapshot) as server,
        ):
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=[*ARGS, "--hide-scrollbars"]
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 960})
                for url, name in ((paths.html.as_uri(), "report.png"), (server.url, "review.png")):
                    page.goto(url, wait_until="load")
                    if name == "review.png":  # its jobs are drawn once fetched
                        page.wait_for_selector("#jobs[aria-busy=false]")
                    # Lazy images below the fold never load; give those in view a moment.
                    page.evaluate(
                        "Promise.race([new Promise(done => setTimeout(done, 5000)),"
                        " Promise.all([...document.images].map(i => i.decode().catch(() => 0)))])"
                    )
                    page.screenshot(path=str(docs / name))
                    print(f"Saved docs/{name}")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
