"""A bound on the work a call does, counted in Python lines run rather than measured in seconds.

Machines running the suite are noisy, so a test of "this is no longer quadratic" counts steps:
the lines of Python executed inside the block (sys.settrace), which are deterministic. Past
the bound the block is stopped at once with TooMuchWork, a BaseException that no `except
Exception` in the code under test can swallow, so that a quadratic loop fails in moments rather
than running for minutes under the tracer.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


class TooMuchWork(BaseException):
    """The block ran more Python lines than its bound."""


@dataclass
class Steps:
    limit: int
    count: int = 0


@contextmanager
def python_lines_at_most(limit: int) -> Iterator[Steps]:
    """Run the block counting the Python lines it executes; fail when they pass `limit`."""
    steps = Steps(limit)

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        steps.count += 1
        if steps.count > limit:
            raise TooMuchWork(f"more than {limit:,} Python lines run")
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        yield steps
    finally:
        sys.settrace(previous)
    if steps.count > limit:  # raised inside code that caught and went on untraced
        raise TooMuchWork(f"more than {limit:,} Python lines run")
