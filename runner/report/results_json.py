"""results.json: the whole run, one entry per job. Its shape is schemas/results.schema.json."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.execute.records import JobRecord, RunSnapshot
from runner.report.context import ReportContext
from runner.report.paths import shown_recipe_path

FORMAT_VERSION = 1


class JsonReport:
    filename = "results.json"
    in_merged_report = True

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_results_json(snapshot, context.output_dir).encode("utf-8")


def build_results(snapshot: RunSnapshot, output_dir: Path) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "backdrop", "version": snapshot.tool_version},
        "recipe": {
            "name": snapshot.recipe_name,
            "path": shown_recipe_path(snapshot.recipe_path, output_dir),
        },
        "run": {
            "id": snapshot.run_id,
            "started_at": snapshot.started_at,
            "finished_at": snapshot.finished_at,
            "duration_s": _duration(snapshot.started_at, snapshot.finished_at),
        },
        "axes": list(snapshot.axes),
        "estimated_cost_usd": snapshot.estimated_cost_usd,
        "totals": snapshot.totals(),
        "jobs": [_job(job) for job in sorted(snapshot.jobs, key=lambda job: job.index)],
    }


def render_results_json(snapshot: RunSnapshot, output_dir: Path) -> str:
    # default=str: a YAML date in a matrix value is written as its ISO text.
    results = build_results(snapshot, output_dir)
    return json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n"


def _job(job: JobRecord) -> dict[str, Any]:
    return {
        "key": job.key,
        "index": job.index,
        "label": job.label,
        "vars": dict(job.vars),
        "image": {"kind": job.image_kind, "ref": job.image_ref},
        "prompt_object": dict(job.prompt_object),
        "status": job.shown_status,
        "take": job.take,
        "attempts": job.attempts,
        "error": job.error,
        "record_uuid": job.record_uuid,
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
        "duration_s": job.duration_s,
    }


def _duration(started: str, finished: str | None) -> float | None:
    if finished is None:
        return None
    try:
        delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    except (ValueError, TypeError):
        return None
    return round(delta.total_seconds(), 3)
