"""backdrop.lock as a report format: the manifest `verify` checks the folder's files against."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runner.records.lock_reader import read_lock
from runner.records.lockfile import LOCK_NAME, LockFileProblem, build_lock, render_lock
from runner.records.run_records import RunSnapshot
from runner.report.context import ReportContext


class LockManifest:
    filename = LOCK_NAME
    # Each folder's lock lists that folder's own files; a merged report spans several.
    in_merged_report = False

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_lock(build_lock(snapshot)).encode("utf-8")


def with_lock_generations(snapshot: RunSnapshot, folder: Path) -> RunSnapshot:
    """The snapshot with the generations the folder's backdrop.lock records and its state does
    not (a lock pulled from git): the spending a lock records stays in it, and every report
    prices the same generations the lock lists."""
    try:
        recorded = read_lock(folder).generations
    except LockFileProblem:
        return snapshot
    known = {(g.id, g.job) for g in snapshot.generations}
    more = tuple(g for g in recorded if (g.id, g.job) not in known)
    if not more:
        return snapshot
    return dataclasses.replace(snapshot, generations=snapshot.generations + more)
