"""Short fingerprints of a job's request fields, so that backdrop.lock alone can say what changed.

A fresh clone has the committed lock but no state: the lock keeps, per output, one short hash per
field a reviewer cares about, and `plan --diff` compares them with the plan's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# The fields a reviewer cares about, in the order they are listed, and their promptObject names.
FIELDS = ("prompt", "size", "quality", "n", "format", "compression", "source image", "take")
PROMPT_FIELDS = {
    "prompt": "prompt",
    "size": "size",
    "quality": "quality",
    "n": "n",
    "format": "output_format",
    "compression": "output_compression",
}
FINGERPRINT_CHARS = 12  # 48 bits: a field that changed is never mistaken for one that did not


def fingerprint(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def request_fingerprints(
    prompt_object: Mapping[str, Any], image: str, take: int
) -> tuple[tuple[str, str], ...]:
    """(field, fingerprint) for every field of FIELDS, in that order.

    `image` is "kind:ref" (the path as rendered, the URL or the asset key), as the state keeps
    it: a source image whose content changed behind the same path is found by elimination.
    """
    values: dict[str, Any] = {name: prompt_object.get(api) for name, api in PROMPT_FIELDS.items()}
    values["source image"] = image
    values["take"] = take
    return tuple((name, fingerprint(values[name])) for name in FIELDS)
