"""Every report format, in the order they are written and listed.

Adding a format is one module with a writer (see context.ReportWriter) and one entry here.
"""

from __future__ import annotations

from runner.report.context import ReportWriter
from runner.report.html import HtmlReport
from runner.report.junit import JunitReport
from runner.report.lock_report import LockManifest
from runner.report.results_csv import CsvReport
from runner.report.results_json import JsonReport

WRITERS: tuple[ReportWriter, ...] = (
    HtmlReport(),  # first: the page the summary and `report --open` point at
    JsonReport(),
    CsvReport(),
    JunitReport(),
    LockManifest(),
)
