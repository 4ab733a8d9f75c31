"""The one place that knows the 1min.ai background replacer's limits.

The recipe schema, the plan-time checks and the emulator all use these (tests check the schema
agrees), so a limit changes here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.printable import clipped_repr

FEATURE_TYPE = "BACKGROUND_REPLACER"
MODEL = "gpt-image-1"

SIZES = ("1024x1024", "1024x1536", "1536x1024")
QUALITIES = ("low", "medium", "high")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
N_RANGE = (1, 10)
PROMPT_LENGTH = (1, 4000)
COMPRESSION_RANGE = (0, 100)

# Source images the API accepts, by Pillow format name -> MIME type.
SOURCE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

# promptObject fields a recipe sets through `defaults` (or matrix overrides), in API order.
PROMPT_FIELDS = ("size", "quality", "n", "output_format", "output_compression")
INTEGER_FIELDS = ("n", "output_compression")

# What a job gets for a field its recipe leaves unset (README's recipe reference documents these).
DEFAULT_PROMPT_OBJECT: Mapping[str, Any] = {
    "size": "1024x1024",
    "quality": "medium",
    "n": 1,
    "output_format": "png",
    "output_compression": 85,  # the documented default (was sent as 100 until 2026-12)
}

# Documented: 180 requests per minute per key.
DEFAULT_RPM = 180

FORMAT_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def check_field(name: str, value: object) -> str | None:
    """Why `value` is not allowed for promptObject field `name`, or None when it is fine."""
    if name == "size":
        return None if value in SIZES else f"{clipped_repr(value)} is not one of {', '.join(SIZES)}"
    if name == "quality":
        shown = clipped_repr(value)
        return None if value in QUALITIES else f"{shown} is not one of {', '.join(QUALITIES)}"
    if name == "output_format":
        if value in OUTPUT_FORMATS:
            return None
        return f"{clipped_repr(value)} is not one of {', '.join(OUTPUT_FORMATS)}"
    if name == "n":
        return _check_int(value, *N_RANGE)
    if name == "output_compression":
        return _check_int(value, *COMPRESSION_RANGE)
    if name == "prompt":
        if not isinstance(value, str):
            return "the prompt must be text"
        low, high = PROMPT_LENGTH
        if len(value.strip()) < low:
            return "the prompt is empty"
        if len(value) > high:
            return f"the prompt is {len(value)} characters long; the API allows at most {high}"
        return None
    return f"{name!r} is not a promptObject field"


def check_prompt_object(fields: Mapping[str, object]) -> list[tuple[str, str]]:
    """Every (field, problem) in a resolved promptObject (imageUrl excluded)."""
    problems = []
    for name in ("prompt", *PROMPT_FIELDS):
        if name not in fields:
            problems.append((name, f"{name} is missing"))
            continue
        problem = check_field(name, fields[name])
        if problem:
            problems.append((name, problem))
    return problems


def _check_int(value: object, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{clipped_repr(value)} is not a whole number"
    if not low <= value <= high:
        return f"{value} is out of range (the API allows {low} to {high})"
    return None
