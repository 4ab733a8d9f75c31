"""Combine the outputs of `backdrop run --shard K/N` into one report.

Paths. A snapshot's file paths are relative to its own output folder. Shards run on different
machines usually end up in different folders (out/shard-1, out/shard-2, ...), so before merging,
pass each shard's snapshot through `rebase_snapshot(snapshot, shard_dir, report_dir)`: its paths
then become relative to the folder the merged report is written into (`../shard-2/fr-FR/x.webp`).
The merged report links, thumbnails and locks those relative paths as they are, so report.html
keeps working when the folders are moved together, and shard files are never copied.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from runner.diagnostics import BackdropError
from runner.records.run_records import GenerationRecord, JobRecord, RunSnapshot

# Which record wins when two shards know the same job: a success beats a failure beats no run.
_RANK = {"done": 3, "failed": 2, "generated": 1, "pending": 0}


def merge_snapshots(snapshots: Sequence[RunSnapshot]) -> RunSnapshot:
    """One snapshot from several shards of the same recipe: jobs deduplicated by key.

    When shards disagree about a job, done beats failed beats not run; on a tie the earlier
    snapshot in the sequence wins. The generations are every shard's, each once by its id (each
    was paid), priced at the first shard's prices. The latest runs' times span the earliest
    start to the latest finish (the reports do not show them: they describe the folders).
    """
    if not snapshots:
        raise BackdropError("nothing to merge", hint="Give at least one output folder.")
    names = sorted({snapshot.recipe_name for snapshot in snapshots})
    if len(names) > 1:
        raise BackdropError(
            f"these output folders come from different recipes ({', '.join(names)})",
            hint="Merge only the shards of one recipe: `backdrop report --merge out/a out/b`.",
        )
    first = snapshots[0]
    chosen: dict[str, JobRecord] = {}
    for snapshot in snapshots:
        for job in snapshot.jobs:
            held = chosen.get(job.key)
            if held is None or _RANK.get(job.status, 0) > _RANK.get(held.status, 0):
                chosen[job.key] = job
    jobs = tuple(sorted(chosen.values(), key=lambda job: (job.index, job.key)))
    axes = tuple(dict.fromkeys(axis for snapshot in snapshots for axis in snapshot.axes))
    finished = [s.finished_at for s in snapshots]
    return RunSnapshot(
        recipe_name=first.recipe_name,
        recipe_path=first.recipe_path,
        run_id="+".join(dict.fromkeys(snapshot.run_id for snapshot in snapshots)),
        started_at=min(snapshot.started_at for snapshot in snapshots),
        finished_at=None if None in finished else max(f for f in finished if f is not None),
        tool_version=first.tool_version,
        axes=axes,
        report_rows=next((s.report_rows for s in snapshots if s.report_rows), None),
        report_columns=next((s.report_columns for s in snapshots if s.report_columns), None),
        estimated_cost_usd=_cost(snapshots),
        jobs=jobs,
        generations=_generations(snapshots),
        prices=first.prices,
    )


def rebase_snapshot(snapshot: RunSnapshot, from_dir: Path, to_dir: Path) -> RunSnapshot:
    """The same snapshot with file and output paths relative to to_dir instead of from_dir."""
    source = Path(os.path.abspath(from_dir))
    target = Path(os.path.abspath(to_dir))
    if source == target:
        return snapshot

    def move(path: str) -> str:
        return Path(os.path.relpath(source / path, target)).as_posix()

    jobs = tuple(
        dataclasses.replace(
            job,
            outputs=tuple(move(path) for path in job.outputs),
            files=tuple(dataclasses.replace(f, path=move(f.path)) for f in job.files),
        )
        for job in snapshot.jobs
    )
    return dataclasses.replace(snapshot, jobs=jobs)


def _generations(snapshots: Sequence[RunSnapshot]) -> tuple[GenerationRecord, ...]:
    """Every shard's generations, each once, in backdrop.lock's order (run, then id)."""
    found: dict[tuple[str, str], GenerationRecord] = {}
    for snapshot in snapshots:
        for generation in snapshot.generations:
            found.setdefault((generation.id, generation.job), generation)
    return tuple(sorted(found.values(), key=lambda g: (g.run or "", g.id, g.job)))


def _cost(snapshots: Sequence[RunSnapshot]) -> float:
    """What the latest runs generated: every shard's own generations were paid, whichever record
    of a job the merge keeps; a folder given twice counts once."""
    by_run = {snapshot.run_id: snapshot.estimated_cost_usd for snapshot in snapshots}
    return round(sum(by_run.values()), 4)
