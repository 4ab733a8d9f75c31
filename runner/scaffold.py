"""`backdrop init`: a starter project that plans at once."""

from __future__ import annotations

import re
from pathlib import Path

from runner.diagnostics import UsageError, display_path

STARTER_RECIPE = """\
# yaml-language-server: $schema=./recipe.schema.json
# A starter recipe. Plan it with:  backdrop plan {recipe}
# Rehearse it offline with:        backdrop run {recipe} --emulate
version: 1
name: {name}
description: Product shots on seasonal backgrounds, one set per market
defaults:                      # promptObject fields; each one may be a template
  size: 1024x1024              # 1024x1024 | 1024x1536 | 1536x1024
  quality: low                 # low | medium | high
  n: 1                         # images per job, 1..10
  output_format: webp          # png | jpeg | webp
  output_compression: 85       # 0..100
vars:
  brand: {brand}
matrix:
  product:
    - {{ sku: SAMPLE-01, name: ceramic vase, image: images/product.png }}
  season: [spring, autumn]
  market: {{ csv: data/markets.csv }}   # one mapping per row; columns become fields
  # Straight from Excel instead (the first sheet unless you name one):
  # market: {{ xlsx: data/markets.xlsx, sheet: Markets }}
image: "{{{{ product.image }}}}"
prompt: |
  {{{{ product.name }}}} on {{{{ market.setting }}}} in {{{{ season }}}},
  soft natural light, photorealistic, {{{{ brand }}}} colour palette
output: "{{{{ market.code }}}}/{{{{ product.sku }}}}-{{{{ season }}}}"
"""

# Kept short: the README's "What to commit" says the rest.
GITIGNORE = """\
# Backdrop's private working files (run state, thumbnails, emulator data) stay out of git.
# Commit the recipe, its data and images, backdrop.lock, review.yaml if present, and the
# generated images if your team versions them.
.backdrop/
"""
IGNORED = ".backdrop/"

STARTER_CSV = """\
code,setting
fr-FR,a sunlit Parisian balcony
ja-JP,a calm Kyoto tea room
"""


def init_project(directory: Path) -> list[Path]:
    """Write a starter recipe, its schema, an example image and a CSV; return what was written."""
    from runner.recipe.schema_check import schema_text

    directory = directory.resolve()
    name = _slug(directory.name) or "my-campaign"
    recipe = directory / "recipe.yaml"
    files = {
        recipe: STARTER_RECIPE.format(name=name, brand="Acme Home", recipe=display_path(recipe)),
        directory / "recipe.schema.json": schema_text(),
        directory / "data" / "markets.csv": STARTER_CSV,
    }
    image = directory / "images" / "product.png"
    existing = [p for p in [*files, image] if p.exists()]
    if existing:
        raise UsageError(
            f"{display_path(existing[0])} already exists; backdrop init never overwrites files",
            hint="choose an empty folder: backdrop init NEW_FOLDER",
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    image.parent.mkdir(parents=True, exist_ok=True)
    _draw_example_image(image)
    ignore = _write_gitignore(directory / ".gitignore")
    return [recipe, *list(files)[1:], image, *([ignore] if ignore else [])]


def _write_gitignore(path: Path) -> Path | None:
    """Keep .backdrop/ out of git; an existing .gitignore only gains the line it lacks."""
    if not path.exists():
        path.write_text(GITIGNORE, encoding="utf-8")
        return path
    text = path.read_text(encoding="utf-8", errors="replace")
    if any(line.strip() in (IGNORED, IGNORED.rstrip("/")) for line in text.splitlines()):
        return None
    with path.open("a", encoding="utf-8") as handle:
        handle.write(("" if text.endswith("\n") or not text else "\n") + IGNORED + "\n")
    return path


def _draw_example_image(path: Path) -> None:
    from PIL import Image, ImageDraw

    im = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    draw.ellipse((88, 40, 168, 90), fill=(70, 110, 160, 255))
    draw.polygon([(96, 70), (160, 70), (190, 210), (66, 210)], fill=(70, 110, 160, 255))
    draw.rectangle((66, 205, 190, 222), fill=(50, 80, 120, 255))
    im.save(path, optimize=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
