"""Thumbnails are made during the run, as images land, so that the report only reuses them."""

from __future__ import annotations

import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.thumbs import THUMBS_DIR, thumb_name
from runner.records.state import StateStore
from runner.report.writer import write_reports
from tests.runhelp import make_plan, run


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(EmulatorConfig(seed=5, latency=0.05)) as running:
        yield running


def test_the_run_leaves_a_thumbnail_per_image_and_the_report_reuses_them(tmp_path, server):
    plan = make_plan(tmp_path, seasons=("spring", "winter"))
    result = run(plan, server)
    assert result.ok

    folder = plan.output_dir / THUMBS_DIR
    snapshot = StateStore.read_snapshot(plan.output_dir)
    wanted = {thumb_name(f.sha256) for job in snapshot.jobs for f in job.files}
    wanted |= {thumb_name(job.image.sha256) for job in plan.jobs if job.image.sha256}
    assert len(wanted) == 4 + 2  # every result, and both originals
    made = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert set(made) == wanted  # before any report was written

    write_reports(snapshot, plan.output_dir)
    after = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert after == made  # nothing made again, nothing rewritten
