"""results.json: the output folder's state, one entry per job. Its shape is
schemas/results.schema.json.

It describes what the folder holds (each job's status, take, files and when they were
generated; what the folder's generations cost), not what the latest run did: a re-run that
changes nothing writes the same bytes (content.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runner.records.run_records import JobRecord, RunSnapshot
from runner.report.content import Generated, folder_content, iso_utc
from runner.report.context import ReportContext
from runner.report.paths import shown_recipe_path

FORMAT_VERSION = 2  # 2: the folder's state; 1 told the latest run (its id, times, verbs)


class JsonReport:
    filename = "results.json"
    in_merged_report = True

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_results_json(snapshot, context.output_dir).encode("utf-8")


def build_results(snapshot: RunSnapshot, output_dir: Path) -> dict[str, Any]:
    content = folder_content(snapshot)
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "backdrop"},
        "recipe": {
            "name": snapshot.recipe_name,
            "path": shown_recipe_path(snapshot.recipe_path, output_dir),
        },
        "updated_at": iso_utc(content.updated_at),
        "axes": list(snapshot.axes),
        "estimated_cost_usd": content.cost_usd,
        "maybe_charged_usd": content.maybe_charged_usd,
        "totals": snapshot.totals(),
        "jobs": [
            _job(job, content.generated[job.key])
            for job in sorted(snapshot.jobs, key=lambda job: job.index)
        ],
    }


def render_results_json(snapshot: RunSnapshot, output_dir: Path) -> str:
    # default=str: a YAML date in a matrix value is written as its ISO text.
    results = build_results(snapshot, output_dir)
    return json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n"


def _job(job: JobRecord, generated: Generated) -> dict[str, Any]:
    return {
        "key": job.key,
        "index": job.index,
        "label": job.label,
        "vars": dict(job.vars),
        "image": {"kind": job.image_kind, "ref": job.image_ref},
        "prompt_object": dict(job.prompt_object),
        "status": job.shown_status,
        "take": job.take,
        "generated_at": iso_utc(generated.at),
        "error": job.error,
        "record_uuid": generated.record,
        "outputs": list(job.outputs),
        "files": [
            {
                "path": record.path,
                "sha256": record.sha256,
                "width": record.width,
                "height": record.height,
                "bytes": record.bytes,
            }
            for record in job.files
        ],
    }
