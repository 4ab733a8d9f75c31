"""`plan --json`, written job by job: a 100,000-job plan never exists as one big string."""

from __future__ import annotations

import json
from collections.abc import Iterator

from runner.plan.plan_model import Plan


def plan_json_chunks(plan: Plan, *, recipe_path: str, output_dir: str) -> Iterator[str]:
    """The plan as one JSON document, in pieces; paths as the caller wants them shown."""
    cost = plan.cost()
    head = {
        "recipe": {"name": plan.recipe_name, "path": recipe_path},
        "output_dir": output_dir,
        "axes": list(plan.axes),
        "totals": {
            "jobs": len(plan.jobs),
            "images": plan.image_count,
            "uploads": plan.upload_count,
            "estimated_cost_usd": cost.total_usd,
        },
    }
    text = json.dumps(head, indent=2, ensure_ascii=False)
    yield text[:-2] + ',\n  "jobs": ['
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))
    batch: list[str] = []
    for number, job in enumerate(plan.jobs):
        batch.append((",\n    " if number else "\n    ") + encoder.encode(job.to_json()))
        if len(batch) >= 512:  # fewer, larger writes; memory stays bounded by the batch
            yield "".join(batch)
            batch = []
    yield "".join(batch) + ("\n  ]" if plan.jobs else "]") + "\n}\n"
