"""Build Recipe values for the planning tests from real YAML files, with real source positions.

This is a deliberately small stand-in for the recipe builder (runner/recipe), so that the
planning tests depend only on the Recipe contract and the project's YAML loader.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from runner.diagnostics import Diagnostic, RecipeError
from runner.plan.plan_model import Plan
from runner.plan.planner import plan_recipe
from runner.recipe.loader import load_yaml
from runner.recipe.model import (
    DEFAULT_PRICES,
    Axis,
    AxisSource,
    Recipe,
    ReportLayout,
)

RECIPE_NAME = "recipe.yaml"


def image_bytes(output_format: str, rgb: tuple[int, int, int]) -> bytes:
    """A small whole image in an output format (png, jpeg or webp), as a result would be."""
    import io

    from PIL import Image

    if output_format == "png":
        return png_bytes(rgb=rgb)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), rgb).save(buffer, {"jpeg": "JPEG", "webp": "WEBP"}[output_format])
    return buffer.getvalue()


def png_bytes(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A tiny valid PNG, written by hand so that tests do not depend on an encoder."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def write_files(folder: Path, files: dict[str, bytes | str]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)


def _axis(name: str, value: Any) -> Axis:
    node = ("matrix", name)
    if isinstance(value, dict):
        kind = next(key for key in value if key != "sheet")
        options = {key: str(option) for key, option in value.items() if key != kind}  # as built
        return Axis(name, AxisSource(kind, path=value[kind], options=options), node)
    return Axis(name, AxisSource("inline", values=tuple(value)), node)


def make_recipe(folder: Path, text: str, files: dict[str, bytes | str] | None = None) -> Recipe:
    """Write recipe.yaml (and any files) into `folder` and build its Recipe."""
    write_files(folder, {RECIPE_NAME: text, **(files or {})})
    document = load_yaml(text, RECIPE_NAME)
    data: dict[str, Any] = document.data
    matrix = dict(data.get("matrix") or {})
    include = tuple(matrix.pop("include", ()) or ())
    exclude = tuple(matrix.pop("exclude", ()) or ())
    return Recipe(
        path=(folder / RECIPE_NAME).absolute(),
        name=data.get("name", "test"),
        description=data.get("description", ""),
        defaults=data.get("defaults") or {},
        vars=data.get("vars") or {},
        axes=tuple(_axis(name, value) for name, value in matrix.items()),
        include=include,
        exclude=exclude,
        image=data.get("image", ""),
        prompt=data.get("prompt", ""),
        output=data.get("output", ""),
        output_dir=data.get("output_dir"),
        prices=DEFAULT_PRICES,
        report=ReportLayout(),
        source=document.source,
        max_jobs=data.get("max_jobs"),
    )


def plan_text(
    folder: Path, text: str, files: dict[str, bytes | str] | None = None, **kw: Any
) -> Plan:
    return plan_recipe(make_recipe(folder, text, files), **kw)


def plan_errors(
    folder: Path, text: str, files: dict[str, bytes | str] | None = None, **kw: Any
) -> list[Diagnostic]:
    """The diagnostics planning raises (fails the test when it does not raise)."""
    recipe = make_recipe(folder, text, files)
    try:
        plan_recipe(recipe, **kw)
    except RecipeError as exc:
        return list(exc.diagnostics())
    raise AssertionError("planning succeeded but errors were expected")


def headlines(diagnostics: list[Diagnostic]) -> list[str]:
    return [d.headline() for d in diagnostics]
