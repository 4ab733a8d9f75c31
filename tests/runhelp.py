"""Builds real Plans (real source images on disk) and runs them against the loopback emulator."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import sqlite3
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from runner.execute.events import FinishStatus, RunTotals
from runner.execute.run_options import RunOptions
from runner.execute.run_plan import RunResult, run_plan
from runner.plan.jobs import job_key
from runner.plan.plan_model import ImageSource, Job, Plan, PromptObject
from runner.recipe.model import DEFAULT_PRICES, ReportLayout

API_KEY = "sk-test-Zq8rT2vW9xY4"  # distinctive, so a leak is easy to find


def write_source(path: Path, colour: tuple[int, int, int]) -> ImageSource:
    """A small PNG product shot: a coloured square on a transparent background."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGBA", (48, 48), (0, 0, 0, 0))
    image.paste((*colour, 255), (12, 12, 36, 36))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    sha = hashlib.sha256(buffer.getvalue()).hexdigest()
    return ImageSource("file", f"images/{path.name}", path, sha, "image/png")


def make_plan(
    root: Path,
    *,
    products: Sequence[str] = ("MUG", "CAP"),
    seasons: Sequence[str] = ("spring", "summer", "winter"),
    prompt: Callable[[str, str], str] = lambda product, season: f"{product} on a {season} beach",
    n: int = 1,
    extra_images: Mapping[str, ImageSource] | None = None,
) -> Plan:
    """products x seasons jobs; each product has its own source image file."""
    colours = [(200, 30, 30), (30, 160, 40), (20, 40, 200), (220, 200, 20)]
    sources = {
        product: write_source(root / "images" / f"{product.lower()}.png", colours[i % 4])
        for i, product in enumerate(products)
    }
    sources.update(extra_images or {})
    jobs: list[Job] = []
    for product in sources:
        for season in seasons:
            image = sources[product]
            po = PromptObject(prompt(product, season), "1024x1024", n, "low", "png", 100)
            jobs.append(
                Job(
                    key=job_key(image, po),
                    index=len(jobs),
                    vars={"product": product, "season": season, "market": {"code": "fr-FR"}},
                    label=f"product={product} season={season}",
                    image=image,
                    prompt_object=po,
                    outputs=tuple(
                        f"{season}/{product}{'' if n == 1 else f'-{i + 1}'}.png" for i in range(n)
                    ),
                )
            )
    return Plan(
        recipe_name="test",
        recipe_path=root / "recipe.yaml",
        output_dir=root / "out",
        axes=("product", "season"),
        jobs=tuple(jobs),
        prices=DEFAULT_PRICES,
        report=ReportLayout(rows="product", columns="season"),
    )


class RecordingEvents:
    """Keeps every event, to assert on what a watcher was told."""

    def __init__(self, on_finish: Callable[[str, FinishStatus], None] | None = None) -> None:
        self.started: list[str] = []
        self.finished: list[tuple[str, FinishStatus, str | None]] = []
        self.retries: list[tuple[str, int, str, float]] = []
        self.stopping: list[str] = []
        self.totals: list[RunTotals] = []
        self.run_ids: list[str] = []
        self._on_finish = on_finish

    def run_started(self, run_id: str, jobs: int) -> None:
        self.run_ids.append(run_id)

    def job_started(self, label: str) -> None:
        self.started.append(label)

    def job_retrying(self, label: str, attempt: int, reason: str, delay: float) -> None:
        self.retries.append((label, attempt, reason, delay))

    def job_finished(
        self, label: str, status: FinishStatus, message: str | None, credits_left: int | None
    ) -> None:
        self.finished.append((label, status, message))
        if self._on_finish is not None:
            self._on_finish(label, status)

    def run_stopping(self, reason: str) -> None:
        self.stopping.append(reason)

    def run_totals(self, totals: RunTotals) -> None:
        self.totals.append(totals)

    def statuses(self) -> dict[str, FinishStatus]:
        return {label: status for label, status, _ in self.finished}


def fast_options(**changes: Any) -> RunOptions:
    """Quick retries and no pacing to speak of: tests must not sleep for real."""
    from runner.execute.backoff import Backoff

    defaults: dict[str, Any] = {
        "concurrency": 8,
        "rpm": 600_000,
        "max_attempts": 8,
        "backoff": Backoff(base=0.005, cap=0.05),
    }
    defaults.update(changes)
    return RunOptions(**defaults)


def run(plan: Plan, server: Any, options: RunOptions | None = None, **kwargs: Any) -> RunResult:
    return run_plan(
        plan,
        options or fast_options(),
        api_key=API_KEY,
        base_url=server.base_url,
        asset_base_url=server.asset_base_url,
        handle_sigint=False,
        **kwargs,
    )


def ledger(server: Any) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{server.base_url}/_emulator/ledger") as answer:
        entries: list[dict[str, Any]] = json.loads(answer.read())
    return entries


def charged_prompts(server: Any) -> list[str]:
    return [entry["prompt"] for entry in ledger(server)]


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


def answers(server: Any, route: str, status: str = "200") -> int:
    """How many times the emulator answered `route` ("POST /api/assets") with `status`."""
    counter = server.api.stats.by_route.get(route)
    return 0 if counter is None else int(counter[status])


def uploads(server: Any) -> int:
    return answers(server, "POST /api/assets")


def copy_campaign(source: Path, to: Path) -> None:
    """The campaign folder `source`, with the runs made in it, copied to `to` as if they had been
    made there: every file with its times (each state's record of its images still matches
    them), and the absolute paths a state records (the recipe run, each job's source image)
    moved from `source` to `to`. Cheaper than running the campaign again in each test."""
    shutil.copytree(source, to, dirs_exist_ok=True)
    old, new = f"{source.absolute()}{os.sep}", f"{to.absolute()}{os.sep}"
    for state in to.rglob("state.db"):
        conn = sqlite3.connect(state)
        try:
            with conn:
                for table, column in (("runs", "recipe_path"), ("jobs", "image_path")):
                    conn.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?)"
                        f" WHERE substr({column}, 1, ?) = ?",
                        (new, len(old) + 1, len(old), old),
                    )
        finally:
            conn.close()
