"""junit.xml: one testcase per job, so that CI shows which combinations failed and why.

Jobs skipped because an earlier run already made them are passing testcases (they did succeed),
marked with a `backdrop.status` property; only jobs never run are <skipped/>. Characters that
XML 1.0 forbids (control characters from a pasted prompt, say) are removed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from runner.execute.records import JobRecord, RunSnapshot
from runner.report.context import ReportContext
from runner.report.paths import shown_recipe_path

_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class JunitReport:
    filename = "junit.xml"
    in_merged_report = True

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_junit(snapshot, shown_recipe_path(snapshot.recipe_path, context.output_dir))


def xml_safe(text: str) -> str:
    return _ILLEGAL_XML.sub("", text)


def render_junit(snapshot: RunSnapshot, recipe_path: str | None = None) -> bytes:
    """The suite; `recipe_path` is the recipe as the report shows it (relative to the folder)."""
    totals = snapshot.totals()
    jobs = sorted(snapshot.jobs, key=lambda job: job.index)
    suite_time = _run_seconds(snapshot)
    if suite_time is None:  # an unfinished run: the jobs' own times are all there is
        suite_time = sum(_job_seconds(job) for job in jobs)
    suite = ET.Element(
        "testsuite",
        {
            "name": xml_safe(snapshot.recipe_name),
            "tests": str(totals["jobs"]),
            "failures": str(totals["failed"]),
            "errors": "0",
            "skipped": str(totals["pending"]),
            "time": f"{suite_time:.3f}",
        },
    )
    if snapshot.started_at:
        suite.set("timestamp", xml_safe(snapshot.started_at))
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("backdrop.run_id", snapshot.run_id),
        ("backdrop.recipe_path", snapshot.recipe_path if recipe_path is None else recipe_path),
        ("backdrop.version", snapshot.tool_version),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": xml_safe(value)})
    for job in jobs:
        _testcase(suite, job, snapshot.recipe_name)
    ET.indent(suite)
    body: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _run_seconds(snapshot: RunSnapshot) -> float | None:
    """The run's wall-clock time: jobs overlap, so the sum of their times would overstate it."""
    if snapshot.finished_at is None:
        return None
    try:
        delta = datetime.fromisoformat(snapshot.finished_at) - datetime.fromisoformat(
            snapshot.started_at
        )
    except (ValueError, TypeError):
        return None
    return max(0.0, delta.total_seconds())


def _job_seconds(job: JobRecord) -> float:
    """The job's own time in this run; a job done by an earlier run took none of this one's."""
    if job.shown_status == "skipped":
        return 0.0
    return job.duration_s or 0.0


def _testcase(suite: ET.Element, job: JobRecord, recipe_name: str) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "name": xml_safe(job.label or job.key),
            "classname": xml_safe(recipe_name),
            "time": f"{_job_seconds(job):.3f}",
        },
    )
    status = job.shown_status
    properties = ET.SubElement(case, "properties")
    for name, value in (
        ("backdrop.status", status),
        ("backdrop.job_key", job.key),
        ("backdrop.attempts", str(job.attempts)),
        ("backdrop.record_uuid", job.record_uuid or ""),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": xml_safe(value)})
    if status == "failed":
        message = xml_safe(job.error or "the job failed without a message")
        failure = ET.SubElement(case, "failure", {"message": message, "type": "BackdropJobFailed"})
        failure.text = f"{message}\n\nJob: {xml_safe(job.label)}\nPrompt: " + xml_safe(
            str(job.prompt_object.get("prompt", ""))
        )
    elif status == "pending":
        ET.SubElement(case, "skipped", {"message": "not run yet"})
    elif job.files:
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(xml_safe(record.path) for record in job.files)
