"""Merging shard outputs into one report."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from runner.diagnostics import BackdropError
from runner.records.lock_reader import verify_outputs
from runner.report.merge import merge_snapshots, rebase_snapshot
from runner.report.writer import write_reports
from tests.report_snapshots import build_snapshot, campaign_specs, make_sources


def _shards(tmp_path: Path):
    """Two shards of one recipe in two folders; job 5 failed on shard 1 but was done on 2."""
    sources = make_sources(tmp_path / "src")
    shards = []
    for number in (1, 2):
        specs = campaign_specs()
        for index, spec in enumerate(specs):
            mine = index % 2 == number - 1
            if index == 5:
                spec.status = "failed" if number == 1 else "done"
                spec.error = "server busy" if number == 1 else None
            elif not mine:
                spec.status = "pending"
        out = tmp_path / f"shard-{number}"
        snapshot = build_snapshot(out, sources, specs)
        shards.append((out, dataclasses.replace(snapshot, run_id=f"run-{number}")))
    return shards


def test_jobs_are_deduplicated_and_done_beats_failed(tmp_path: Path) -> None:
    shards = _shards(tmp_path)
    merged = merge_snapshots([snapshot for _, snapshot in shards])
    assert len(merged.jobs) == 12
    assert [job.index for job in merged.jobs] == list(range(12))
    totals = merged.totals()
    assert totals["pending"] == 0 and totals["failed"] == 1  # campaign_specs' own failed job
    assert merged.jobs[5].status == "done" and merged.jobs[5].error is None
    # Every shard's generations, each once: what the merged report prices.
    ids = sorted(g.id for _, snapshot in shards for g in snapshot.generations)
    assert sorted(g.id for g in merged.generations) == sorted(set(ids))
    assert len(set(ids)) == len(ids) == 11  # each done job's, on the shard that did it
    # A folder given twice counts once.
    twice = merge_snapshots([shards[0][1]] * 2).generations
    assert sorted(twice, key=str) == sorted(shards[0][1].generations, key=str)


def test_merged_report_links_into_the_shard_folders(tmp_path: Path) -> None:
    shards = _shards(tmp_path)
    into = shards[0][0]
    merged = merge_snapshots([rebase_snapshot(s, folder, into) for folder, s in shards])
    paths = write_reports(merged, into, merged=True)
    assert "backdrop.lock" not in paths
    assert merged.jobs[3].files[0].path.startswith("../shard-2/")  # odd jobs ran on shard 2
    assert merged.jobs[2].files[0].path == "job-002.webp"

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.hrefs.append(unquote(dict(attrs)["href"] or ""))

    parser = Links()
    parser.feed(paths.html.read_text(encoding="utf-8"))
    for job in merged.jobs:
        for record in job.files:
            assert record.path in parser.hrefs
            assert (into / record.path).is_file()
    results = json.loads(paths["results.json"].read_text(encoding="utf-8"))
    assert results["totals"]["images"] == sum(len(job.files) for job in merged.jobs)
    assert not (into / "backdrop.lock").exists()  # each shard's own lock is its manifest


def test_verify_refuses_a_lock_that_points_outside_its_folder(tmp_path: Path) -> None:
    (folder, snapshot), _ = _shards(tmp_path)
    write_reports(snapshot, folder)
    lock = json.loads((folder / "backdrop.lock").read_text(encoding="utf-8"))
    lock["outputs"][0]["path"] = "../../etc/passwd"
    (folder / "backdrop.lock").write_text(json.dumps(lock), encoding="utf-8")
    with pytest.raises(BackdropError) as caught:
        verify_outputs(folder)
    message = caught.value.message
    assert "backdrop.lock:1:" in message  # at the place, as any mistake in a lock
    assert "output 1: the path ../../etc/passwd is not a plain path inside the folder" in message


def test_different_recipes_cannot_be_merged(tmp_path: Path) -> None:
    (_, a), (_, b) = _shards(tmp_path)
    with pytest.raises(BackdropError) as caught:
        merge_snapshots([a, dataclasses.replace(b, recipe_name="autumn-campaign")])
    assert "different recipes (autumn-campaign, spring-campaign)" in caught.value.message
    with pytest.raises(BackdropError):
        merge_snapshots([])


def test_rebase_to_the_same_folder_changes_nothing(tmp_path: Path) -> None:
    (folder, snapshot), _ = _shards(tmp_path)
    assert rebase_snapshot(snapshot, folder, folder) is snapshot
