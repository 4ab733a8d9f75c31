"""junit.xml: one testcase per job, so that CI shows which combinations failed and why.

The file is valid against both schemas that CI tools hold JUnit files to: Apache Ant's
(windyroad/JUnit-Schema `JUnit.xsd`) and Jenkins xunit's `junit-10.xsd` (tests/junit_schemas/
keeps copies). What both allow decides the shape: a testcase holds at most one <failure>,
<error> or <skipped> and nothing else; the suite holds <properties>, the testcases, then
<system-out> and <system-err>, in that order, with a `timestamp` without fraction or zone (UTC)
and a `hostname`.

The suite describes the output folder, not the latest run (teams commit the file, and a re-run
that changes nothing must write the same bytes): a done job passes, whichever run made it; a
failed job fails while its failure stands; a job not run yet is <skipped/>. A job failed by a bug
in backdrop is an <error>; one failed by the API's answer, the network or the disk is a
<failure>. The suite's `timestamp` is when the folder's latest generation was made (content.py),
and every `time` is 0: the jobs ran at 1min.ai, and how long one run took is the run's own news
(its summary), not the folder's. What a testcase may not hold (each job's status, key, take,
generation time, record uuid and files) is one line per job in the suite's <system-out>.
Characters that XML 1.0 forbids (control characters from a pasted prompt, say) are removed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from runner.records.run_records import JobRecord, RunSnapshot
from runner.report.content import Generated, folder_content, iso_utc
from runner.report.context import ReportContext
from runner.report.paths import shown_recipe_path

_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Both schemas require a hostname. The jobs ran at 1min.ai, not here, and the real name of the
# machine that asked (a CI runner's random name, someone's laptop) would change a committed
# report on every machine and publish that name: Ant's schema says 'localhost' when the host is
# not known, and that is the value we give.
HOSTNAME = "localhost"
_EPOCH = "1970-01-01T00:00:00"  # a folder with no generation on record: nothing has a time
NO_TIME = "0.000"  # what a run took is not the folder's content
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
    content = folder_content(snapshot)
    jobs = sorted(snapshot.jobs, key=lambda job: job.index)
    errors = sum(1 for job in jobs if job.internal_error)
    suite = ET.Element(
        "testsuite",
        {
            # Ant's schema wants a name of at least one character once spaces are collapsed.
            "name": " ".join(xml_safe(snapshot.recipe_name).split()) or "backdrop",
            "tests": str(totals["jobs"]),
            "failures": str(totals["failed"] - errors),
            "errors": str(errors),
            "skipped": str(totals["pending"]),
            "time": NO_TIME,
            "timestamp": _timestamp(content.updated_at),
            "hostname": HOSTNAME,
        },
    )
    properties = ET.SubElement(suite, "properties")
    shown_path = snapshot.recipe_path if recipe_path is None else recipe_path
    ET.SubElement(
        properties, "property", {"name": "backdrop.recipe_path", "value": xml_safe(shown_path)}
    )
    for job in jobs:
        _testcase(suite, job, snapshot.recipe_name)
    ET.SubElement(suite, "system-out").text = "".join(
        _job_line(job, content.generated[job.key]) for job in jobs
    )
    ET.SubElement(suite, "system-err")
    ET.indent(suite)
    body: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _timestamp(moment: datetime | None) -> str:
    """A moment in UTC as YYYY-MM-DDTHH:MM:SS: Ant's schema allows no fraction or zone."""
    if moment is None:
        return _EPOCH
    return moment.replace(tzinfo=None, microsecond=0).isoformat()


def _testcase(suite: ET.Element, job: JobRecord, recipe_name: str) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "name": xml_safe(job.label or job.key),
            "classname": xml_safe(recipe_name),
            "time": NO_TIME,
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


def _job_line(job: JobRecord, generated: Generated) -> str:
    """One job's details as a line of the suite's output (a testcase may not hold them)."""
    parts = [f"{job.label or job.key}: {job.shown_status}", f"key {job.key}", f"take {job.take}"]
    if generated.at is not None:
        parts.append(f"generated {iso_utc(generated.at)}")
    if generated.record:
        parts.append(f"record {generated.record}")
    if job.files:
        parts.append("files " + ", ".join(record.path for record in job.files))
    return " ".join(xml_safe("; ".join(parts)).split()) + "\n"
