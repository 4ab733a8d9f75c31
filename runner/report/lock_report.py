"""backdrop.lock as a report format: the manifest `verify` checks the folder's files against."""

from __future__ import annotations

from runner.execute.records import RunSnapshot
from runner.report.context import ReportContext
from runner.report.manifest import LOCK_NAME, ManifestError, build_lock, read_lock, render_lock


class LockManifest:
    filename = LOCK_NAME
    # Each folder's lock lists that folder's own files; a merged report spans several.
    in_merged_report = False

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        # The spending the lock on disk records stays in it, whatever this state knows.
        try:
            earlier = read_lock(context.output_dir).generations
        except ManifestError:
            earlier = ()
        return render_lock(build_lock(snapshot, earlier)).encode("utf-8")
