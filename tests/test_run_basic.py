"""The run engine end to end against the emulator on loopback: real images, real state."""

from __future__ import annotations

import pytest
from PIL import Image

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.plan.plan_model import ImageSource
from runner.records.state import StateStore
from tests.runhelp import (
    API_KEY,
    RecordingEvents,
    charged_prompts,
    fast_options,
    ledger,
    make_plan,
    run,
    uploads,
)


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(EmulatorConfig(seed=3, cache_results=True)) as running:
        yield running


def test_every_job_is_done_and_every_image_written(tmp_path, server):
    plan = make_plan(tmp_path, n=2)
    before = len(ledger(server))
    events = RecordingEvents()
    result = run(plan, server, events=events)

    assert (result.jobs, result.done, result.failed, result.interrupted) == (6, 6, 0, 0)
    assert result.images == 12 and result.ok
    assert len(ledger(server)) - before == 6
    for job in plan.jobs:
        for output in job.outputs:
            with Image.open(plan.output_dir / output) as image:
                assert (image.format, image.size) == ("PNG", (1024, 1024))
    snapshot = StateStore.read_snapshot(plan.output_dir)
    assert {job.status for job in snapshot.jobs} == {"done"}
    assert all(len(job.files) == 2 for job in snapshot.jobs)
    assert sorted(label for label, _, _ in events.finished) == sorted(j.label for j in plan.jobs)
    assert events.totals[-1].done == 6 and events.totals[-1].pending == 0
    assert result.credits_left is not None


def test_each_distinct_source_is_uploaded_once_even_by_concurrent_jobs(tmp_path, server):
    plan = make_plan(tmp_path, products=("MUG", "CAP", "BAG"), seasons=("a", "b", "c", "d"))
    before = uploads(server)
    run(plan, server, fast_options(concurrency=12))
    after = uploads(server)
    assert after - before == 3

    # A new plan over the same images (other prompts) uploads nothing: the state remembers.
    again = make_plan(tmp_path, products=("MUG", "CAP", "BAG"), seasons=("e",))
    run(again, server)
    assert uploads(server) == after


def test_a_rerun_skips_everything_and_pays_nothing(tmp_path, server):
    plan = make_plan(tmp_path)
    run(plan, server)
    charged = len(ledger(server))
    events = RecordingEvents()
    result = run(plan, server, events=events)
    assert (result.done, result.skipped, result.images) == (0, 6, 0)
    assert len(ledger(server)) == charged
    assert events.started == []  # nothing to start: skipped jobs are only reported
    assert set(events.statuses().values()) == {"skipped"}
    # The run left them alone; the folder holds them done, as before.
    statuses = {job.status for job in StateStore.read_snapshot(plan.output_dir).jobs}
    assert statuses == {"done"}


def test_a_changed_prompt_reruns_only_its_own_jobs(tmp_path, server):
    run(make_plan(tmp_path), server)
    before = len(ledger(server))

    def prompt(product: str, season: str) -> str:
        if season == "winter":
            return f"{product} in fresh snow"
        return f"{product} on a {season} beach"

    result = run(make_plan(tmp_path, prompt=prompt), server)
    assert (result.done, result.skipped) == (2, 4)
    assert sorted(charged_prompts(server)[before:]) == ["CAP in fresh snow", "MUG in fresh snow"]


def test_a_deleted_or_damaged_output_is_downloaded_again_without_paying(tmp_path, server):
    plan = make_plan(tmp_path)
    run(plan, server)
    before = len(ledger(server))
    (plan.output_dir / plan.jobs[0].outputs[0]).unlink()
    (plan.output_dir / plan.jobs[1].outputs[0]).write_bytes(b"not an image any more")

    result = run(plan, server)
    assert (result.done, result.skipped) == (2, 4)
    assert len(ledger(server)) == before
    with Image.open(plan.output_dir / plan.jobs[1].outputs[0]) as image:
        image.load()


def test_url_and_asset_images_are_sent_as_they_are_without_upload(tmp_path, server):
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring",))
    run(plan, server)  # uploads mug.png
    mug_key = ledger(server)[-1]["imageUrl"]
    extra = {
        "WEB": ImageSource("url", "https://example.com/shoe.png"),
        "OLD": ImageSource("asset", mug_key),
    }
    before = uploads(server)
    plan = make_plan(tmp_path, products=(), seasons=("spring",), extra_images=extra)
    result = run(plan, server)
    assert result.done == 2
    sent = {entry["imageUrl"] for entry in ledger(server)[-2:]}
    assert sent == {"https://example.com/shoe.png", mug_key}
    assert uploads(server) == before


def test_a_refused_request_fails_that_job_with_the_apis_message(tmp_path, server):
    extra = {"GONE": ImageSource("asset", "images/no-such-asset.png")}
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring",), extra_images=extra)
    result = run(plan, server)
    assert (result.done, result.failed) == (1, 1)
    (failure,) = result.failures
    assert failure.label == "product=GONE season=spring"
    assert "imageUrl 'images/no-such-asset.png' is not a known asset" in failure.message
    assert failure.vars["product"] == "GONE"
    snapshot = StateStore.read_snapshot(plan.output_dir)
    failed = [job for job in snapshot.jobs if job.status == "failed"]
    assert [job.label for job in failed] == [failure.label]
    assert failed[0].attempts == 1  # a 400 is not retried


def test_a_source_image_changed_since_planning_fails_its_jobs_only(tmp_path, server):
    plan = make_plan(tmp_path)
    (tmp_path / "images" / "cap.png").write_bytes(b"edited")
    result = run(plan, server)
    assert (result.done, result.failed) == (3, 3)
    assert all("changed since the plan was made" in f.message for f in result.failures)


def test_the_api_key_never_reaches_the_output_folder(tmp_path, server):
    extra = {"GONE": ImageSource("asset", "images/missing.png")}
    plan = make_plan(tmp_path, extra_images=extra)
    events = RecordingEvents()
    result = run(plan, server, events=events)
    assert result.failed == 3
    needle = API_KEY.encode()
    files = [p for p in plan.output_dir.rglob("*") if p.is_file()]
    assert any(p.name == "state.db" for p in files)
    for path in files:
        assert needle not in path.read_bytes(), path
    assert API_KEY not in repr(result)
    assert API_KEY not in repr(events.__dict__)


def test_an_upload_the_api_has_forgotten_is_uploaded_again_once(tmp_path):
    # The state remembers asset keys across runs; an emulator restarted in between (or assets
    # expired on the real service) no longer knows them. Each image is uploaded again, once.
    plan = make_plan(tmp_path, products=("MUG", "CAP"), seasons=("a", "b", "c"))
    with EmulatorServer(EmulatorConfig(seed=5, cache_results=True)) as first:
        assert run(plan, first).ok
    again = make_plan(tmp_path, products=("MUG", "CAP"), seasons=("d", "e", "f"))
    with EmulatorServer(EmulatorConfig(seed=5, cache_results=True)) as restarted:
        result = run(again, restarted, fast_options(concurrency=6))
        assert (result.done, result.failed) == (6, 0), result.failures
        assert uploads(restarted) == 2
        assert len(ledger(restarted)) == 6
