"""Command-line value types shared by every command."""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses nan and inf: `nan < 1` is false, so a plain range lets it in,
    and `--timeout nan` then failed every job."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; write e.g. 600 or 2.5", param, ctx)
        return super().convert(number, param, ctx)
