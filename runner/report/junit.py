"""junit.xml: one testcase per job, so that CI shows which combinations failed and why.

The file is valid against both schemas that CI tools hold JUnit files to: Apache Ant's
(windyroad/JUnit-Schema `JUnit.xsd`) and Jenkins xunit's `junit-10.xsd` (tests/junit_schemas/
keeps copies). What both allow decides the shape: a testcase holds at most one <failure>,
<error> or <skipped> and nothing else; the suite holds <properties>, the testcases, then
<system-out> and <system-err>, in that order, with a `timestamp` without fraction or zone (UTC)
and a `hostname`.

Jobs done by an earlier run pass (they did succeed); only jobs never run are <skipped/>. A job
failed by a bug in backdrop is an <error>; one failed by the API's answer, the network or the
disk is a <failure>. What a testcase may not hold (each job's status, key, attempts, record uuid
and files) is one line per job in the suite's <system-out>. Characters that XML 1.0 forbids
(control characters from a pasted prompt, say) are removed.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from runner.execute.records import JobRecord, RunSnapshot
from runner.report.context import ReportContext
from runner.report.paths import shown_recipe_path

_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Both schemas require a hostname. The jobs ran at 1min.ai, not here, and the real name of the
# machine that asked (a CI runner's random name, someone's laptop) would change a committed
# report on every machine and publish that name: Ant's schema says 'localhost' when the host is
# not known, and that is the value we give.
HOSTNAME = "localhost"
_EPOCH = "1970-01-01T00:00:00"  # only for a start time the state cannot give (never written so)
FAILED = "BackdropJobFailed"
ERRORED = "BackdropInternalError"


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
    errors = sum(1 for job in jobs if job.internal_error)
    suite_time = _run_seconds(snapshot)
    if suite_time is None:  # an unfinished run: the jobs' own times are all there is
        suite_time = sum(_job_seconds(job) for job in jobs)
    suite = ET.Element(
        "testsuite",
        {
            # Ant's schema wants a name of at least one character once spaces are collapsed.
            "name": " ".join(xml_safe(snapshot.recipe_name).split()) or "backdrop",
            "tests": str(totals["jobs"]),
            "failures": str(totals["failed"] - errors),
            "errors": str(errors),
            "skipped": str(totals["pending"]),
            "time": _decimal(suite_time),
            "timestamp": _timestamp(snapshot.started_at),
            "hostname": HOSTNAME,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("backdrop.run_id", snapshot.run_id),
        ("backdrop.recipe_path", snapshot.recipe_path if recipe_path is None else recipe_path),
        ("backdrop.version", snapshot.tool_version),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": xml_safe(value)})
    for job in jobs:
        _testcase(suite, job, snapshot.recipe_name)
    ET.SubElement(suite, "system-out").text = "".join(_job_line(job) for job in jobs)
    ET.SubElement(suite, "system-err")
    ET.indent(suite)
    body: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _timestamp(started_at: str) -> str:
    """The run's start in UTC as YYYY-MM-DDTHH:MM:SS: Ant's schema allows no fraction or zone."""
    try:
        moment = datetime.fromisoformat(started_at)
    except (TypeError, ValueError):
        return _EPOCH
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None, microsecond=0).isoformat()


def _decimal(seconds: float) -> str:
    """Seconds as both schemas take them: digits and a point, never negative, NaN or inf."""
    return f"{seconds:.3f}" if math.isfinite(seconds) and seconds > 0 else "0.000"


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
    if job.shown_status == "skipped" or job.duration_s is None:
        return 0.0
    return job.duration_s if math.isfinite(job.duration_s) and job.duration_s > 0 else 0.0


def _testcase(suite: ET.Element, job: JobRecord, recipe_name: str) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "name": xml_safe(job.label or job.key),
            "classname": xml_safe(recipe_name),
            "time": _decimal(_job_seconds(job)),
        },
    )
    status = job.shown_status
    if status == "failed":
        message = xml_safe(job.error or "the job failed without a message")
        tag, kind = ("error", ERRORED) if job.internal_error else ("failure", FAILED)
        failure = ET.SubElement(case, tag, {"message": message, "type": kind})
        failure.text = f"{message}\n\nJob: {xml_safe(job.label)}\nPrompt: " + xml_safe(
            str(job.prompt_object.get("prompt", ""))
        )
    elif status == "pending":
        why = "paid for, not downloaded yet" if job.status == "generated" else "not run yet"
        ET.SubElement(case, "skipped", {"message": why})


def _job_line(job: JobRecord) -> str:
    """One job's details as a line of the suite's output (a testcase may not hold them)."""
    attempts = f"{job.attempts} attempt{'' if job.attempts == 1 else 's'}"
    parts = [f"{job.label or job.key}: {job.shown_status}", f"key {job.key}", attempts]
    if job.record_uuid:
        parts.append(f"record {job.record_uuid}")
    if job.files:
        parts.append("files " + ", ".join(record.path for record in job.files))
    return " ".join(xml_safe("; ".join(parts)).split()) + "\n"
