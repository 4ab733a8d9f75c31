"""Thumbnails made during the run, as each image lands, on one background thread.

Against the real API this work hides behind the rate limit; the report then only reuses the
thumbnails (named by content hash, see report/thumbs.py) instead of decoding thousands of
full-size images at the end. Nothing waits for them but the end of the run.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path


class ThumbnailMaker:
    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        # One thread: the run's own work (downloads, checks, state) keeps priority over previews.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backdrop-thumbs")
        self._seen: set[str] = set()
        self.submitted = 0

    def submit(self, sha256: str, source: Path) -> None:
        """Make the thumbnail of this image soon, once per content."""
        if sha256 in self._seen:
            return
        self._seen.add(sha256)
        self.submitted += 1
        future: Future[bool] = self._pool.submit(_make, self.output_dir, sha256, source)
        future.add_done_callback(_ignore)

    def close(self, *, wait: bool = True) -> None:
        """Finish the queued thumbnails (or drop them: the report makes what is missing)."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


def _make(output_dir: Path, sha256: str, source: Path) -> bool:
    from runner.report.thumbs import make_thumbnail

    try:
        return make_thumbnail(output_dir, sha256, source)
    except Exception:  # a preview must never fail the run: the report tries again
        return False


def _ignore(future: Future[bool]) -> None:
    future.exception()
