"""backdrop.lock as a report format: the manifest `verify` checks the folder's files against."""

from __future__ import annotations

from runner.execute.records import RunSnapshot
from runner.report.context import ReportContext
from runner.report.manifest import LOCK_NAME, build_lock, render_lock


class LockManifest:
    filename = LOCK_NAME
    # Each folder's lock lists that folder's own files; a merged report spans several.
    in_merged_report = False

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_lock(build_lock(snapshot)).encode("utf-8")
