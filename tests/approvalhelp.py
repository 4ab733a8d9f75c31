"""A small campaign (2 products x 2 markets from a CSV, n: 2, two channels) and a review of it
made the way the review page makes one: over its HTTP API, with the images the page showed."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from runner.records.state import StateStore
from runner.review.decision_model import review_key
from runner.review.review_app import TOKEN_HEADER
from runner.review.review_server import ReviewServer, state_images

RECIPE = """\
version: 1
name: binding
defaults:
  size: 1024x1024
  quality: low
  n: 2
  output_format: png
matrix:
  product:
    - { sku: MUG-01, image: images/mug.png }
    - { sku: CAP-02, image: images/cap.png }
  market: { csv: data/markets.csv }
image: "{{ product.image }}"
prompt: "{{ product.sku }} on {{ market.setting }}"
output: "{{ market.code }}/{{ product.sku }}"
channels:
  instagram: 1080x1350
  story: { size: 1080x1920, fit: contain }
"""
MARKETS = """\
code,setting
fr-FR,a Parisian café terrace
de-DE,a bright Berlin loft kitchen
"""
KEYS = ("de-DE/CAP-02", "de-DE/MUG-01", "fr-FR/CAP-02", "fr-FR/MUG-01")


def write_campaign(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    for name, colour in (("mug", (200, 30, 30)), ("cap", (30, 60, 200))):
        image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        image.paste((*colour, 255), (16, 16, 48, 48))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        (folder / "images" / f"{name}.png").write_bytes(buffer.getvalue())
    (folder / "data" / "markets.csv").write_text(MARKETS, encoding="utf-8")
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    return recipe


def shown_images(out: Path) -> dict[str, list[str]]:
    """Each job's images as the page shows them (the state's record of each variant)."""
    snapshot = StateStore.read_snapshot(out)
    return {
        review_key(job.outputs): [f.sha256 for f in job.files] for job in snapshot.jobs if job.files
    }


def post_decisions(out: Path, bodies: Iterable[dict[str, Any]]) -> list[httpx.Response]:
    """POST each body to a review page served on `out`, as the page's script does."""
    answers = []
    read = lambda: StateStore.read_snapshot(out)  # noqa: E731
    with ReviewServer(out, read, images_at=state_images(out)) as server:  # as `backdrop review`
        headers = {"Origin": server.base_url, TOKEN_HEADER: server.token}
        for body in bodies:
            answers.append(
                httpx.post(f"{server.base_url}/api/decision", json=body, headers=headers)
            )
    return answers


def approve_on_page(out: Path, keys: Iterable[str], pick: int = 2) -> None:
    """Approve each job with `pick`, sending the images the page showed; each must be saved."""
    images = shown_images(out)
    bodies = [
        {"job": key, "action": "approve", "pick": pick, "images": images[key]} for key in keys
    ]
    for answer in post_decisions(out, bodies):
        assert answer.status_code == 200, answer.text
