"""Skip marks for tests of POSIX-only mechanisms, which the CI's Windows job runs without.

Each names what Windows lacks. Backdrop itself runs there: tests/test_portable.py checks that
on POSIX with what Windows lacks taken away, and the rest of the suite runs on Windows as is.
"""

from __future__ import annotations

import sys

import pytest

WINDOWS = sys.platform == "win32"


def posix_only(what: str) -> pytest.MarkDecorator:
    """Skip on Windows, which lacks `what`."""
    return pytest.mark.skipif(WINDOWS, reason=f"Windows has no {what}")
