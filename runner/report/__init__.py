"""Reports of an output folder: report.html, results.json, results.csv, junit.xml, backdrop.lock."""

from runner.report.context import CSV_SEPARATORS, ReportOptions
from runner.report.lock_report import with_lock_generations
from runner.report.manifest import VerifyResult, find_stale, verify_outputs
from runner.report.merge import merge_snapshots, rebase_snapshot
from runner.report.writer import ReportPaths, write_reports

__all__ = [
    "CSV_SEPARATORS",
    "ReportOptions",
    "ReportPaths",
    "VerifyResult",
    "find_stale",
    "merge_snapshots",
    "rebase_snapshot",
    "verify_outputs",
    "with_lock_generations",
    "write_reports",
]
