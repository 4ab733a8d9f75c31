"""A small campaign on disk (2 products x 2 markets) for the budget, takes and export tests."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

RECIPE = """\
version: 1
name: deliver-test
defaults:
  size: 1024x1024
  quality: low
  n: {n}
  output_format: png
matrix:
  product:
    - {{ sku: MUG-01, image: images/mug.png }}
    - {{ sku: CAP-02, image: images/cap.png }}
  market:
    - {{ code: fr-FR }}
    - {{ code: de-DE }}
image: "{{{{ product.image }}}}"
prompt: "{{{{ product.sku }}}} on a table in {{{{ market.code }}}}"
output: "{{{{ market.code }}}}/{{{{ product.sku }}}}"
{extra}"""


def write_campaign(folder: Path, *, n: int = 1, extra: str = "") -> Path:
    """The recipe file (with `extra` YAML appended) and its two source images."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, colour in (("mug", (200, 30, 30)), ("cap", (30, 60, 200))):
        image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        image.paste((*colour, 255), (16, 16, 48, 48))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        (folder / "images" / f"{name}.png").write_bytes(buffer.getvalue())
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE.format(n=n, extra=extra), encoding="utf-8")
    return recipe
