"""Whether decisions can be saved in an output folder, asked before the review page opens.

A page on a folder that cannot take review.yaml would fail every click; report.html already is
the read-only view of the images, so `backdrop review` refuses such a folder up front instead.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from runner.diagnostics import StateError, display_path
from runner.fileio import temp_beside
from runner.review.decisions import GUARD_NAME, REVIEW_NAME

_WHAT_TO_DO = (
    "open report.html in that folder to look at the images; to review them, make the folder "
    "writable (or copy it to a writable disk) and run backdrop review again"
)


def check_decisions_writable(output_dir: Path) -> None:
    """StateError (exit 3) unless review.yaml and the review lock can be written in output_dir."""
    folder = Path(output_dir)
    try:
        (folder / GUARD_NAME).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(folder / GUARD_NAME, os.O_RDWR | os.O_CREAT, 0o644))
        fd, probe = temp_beside(folder / REVIEW_NAME, ".probe")  # how review.yaml is written
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        shown = display_path(folder)
        if exc.errno == errno.EROFS:
            cause = f"{shown} is read-only"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            cause = f"{shown} is read-only for you (no permission to write there)"
        else:
            cause = f"cannot write in {shown} ({exc.strerror or exc})"
        raise StateError(f"{cause}: decisions could not be saved", _WHAT_TO_DO) from None
