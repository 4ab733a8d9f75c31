"""Where the files of an earlier take are kept, so that the review page can compare takes.

`run --rejected` keeps a regenerated job's previous files when the new take succeeds; this is the
one place the review page asks where they went.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

TAKES_DIR = PurePosixPath(".backdrop/takes")


def take_path(output: str, take: int) -> str:
    """Where an output (relative to the output folder) is kept once take `take` is replaced."""
    return (TAKES_DIR / str(take) / output).as_posix()


def earlier_take_files(output_dir: Path, outputs: Sequence[str], take: int) -> tuple[str, ...]:
    """The kept files of take `take` of a job, relative to the output folder (those that exist)."""
    kept = (take_path(output, take) for output in outputs)
    return tuple(path for path in kept if (output_dir / path).is_file())
