"""plan --diff against a real state database (SQLite) and real files: every kind of difference."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from runner.execute.previous import read_previous
from runner.plan.diff import FIELDS, DiffEntry, DiffTotals, PlanDiff, diff_plan
from runner.plan.diff_output import COMMENT_LIMIT, COMMENT_MARKER, diff_json_chunks, diff_markdown
from runner.plan.jobs import job_key
from runner.plan.plan_model import Plan
from runner.records.lockfile import build_lock, render_lock
from runner.records.run_records import FileRecord
from runner.records.state import StateStore
from tests.plan_support import image_bytes
from tests.runhelp import make_plan

SCHEMA = Path(__file__).resolve().parent.parent / "runner" / "schemas" / "plan-diff.schema.json"


def complete(plan: Plan, *, download: bool = True, keys: set[str] | None = None) -> None:
    """Record a run of `plan` the way `run` does: generation, then file, then done."""
    with StateStore.open(plan.output_dir) as state:
        state.begin_run(plan, f"run-{len(list(plan.output_dir.glob('**/*')))}-{id(plan)}")
        for job in plan.jobs:
            if keys is not None and job.key not in keys:
                continue
            state.record_generation(job.key, "uuid-" + job.key[:8], ["r/" + job.key], None, None)
            if not download:
                continue
            for index, output in enumerate(job.outputs):
                # A real image of the job's format, its own for each file: a lock's files
                # are checked as whole images of the job's format.
                rgb = hashlib.sha256(f"{job.key}#{index}".encode()).digest()[:3]
                data = image_bytes(job.prompt_object.output_format, (rgb[0], rgb[1], rgb[2]))
                path = plan.output_dir / output
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                digest = hashlib.sha256(data).hexdigest()
                state.record_file(job.key, index, FileRecord(output, digest, 8, 8, len(data)))
            state.mark_done(job.key)


def with_job(plan: Plan, number: int, **prompt_fields: object) -> Plan:
    """The plan with one job's promptObject changed (and its key, as planning would)."""
    jobs = list(plan.jobs)
    job = jobs[number]
    po = dataclasses.replace(job.prompt_object, **prompt_fields)  # type: ignore[arg-type]
    jobs[number] = dataclasses.replace(job, prompt_object=po, key=job_key(job.image, po))
    return dataclasses.replace(plan, jobs=tuple(jobs))


def statuses(diff: PlanDiff) -> dict[str, str]:
    return {entry.output: entry.status for entry in diff.entries}


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    return make_plan(tmp_path)


def test_never_run_every_job_is_new_and_nothing_is_created(plan):
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert diff.source == "none"
    assert set(statuses(diff).values()) == {"new"}
    assert diff.totals.new == len(plan.jobs) == 6
    assert diff.totals.images_to_generate == plan.image_count
    assert diff.totals.estimated_cost_usd == plan.cost().total_usd > 0
    assert not plan.output_dir.exists()  # read-only: no .backdrop/ appears


def test_complete_run_leaves_nothing_to_generate(plan):
    complete(plan)
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert diff.source == "state"
    assert set(statuses(diff).values()) == {"unchanged"}
    assert diff.totals.to_generate == 0
    assert diff.totals.estimated_cost_usd == 0


def test_changed_prompt_is_the_only_change_with_its_cost(plan):
    complete(plan)
    changed = with_job(plan, 1, prompt="MUG on a summer rooftop")
    diff = diff_plan(changed, read_previous(plan.output_dir, changed))
    entry = next(e for e in diff.entries if e.status == "changed")
    assert entry.output == changed.jobs[1].outputs[0]
    assert entry.changed_fields == ("prompt",)
    assert entry.vars == changed.jobs[1].vars
    assert diff.totals.changed == 1 and diff.totals.unchanged == 5 and diff.totals.new == 0
    one = dataclasses.replace(changed, jobs=(changed.jobs[1],)).cost().total_usd
    assert diff.totals.estimated_cost_usd == one


def test_changed_size_and_quality_are_named_in_field_order(plan):
    complete(plan)
    changed = with_job(plan, 0, size="1536x1024", quality="high")
    diff = diff_plan(changed, read_previous(plan.output_dir, changed))
    (entry,) = diff.of("changed")
    assert entry.changed_fields == ("size", "quality")
    assert list(entry.changed_fields) == [f for f in FIELDS if f in entry.changed_fields]


def test_changed_source_image_content(plan, tmp_path):
    complete(plan)
    job = plan.jobs[0]
    image = dataclasses.replace(job.image, sha256="0" * 64)  # same file name, other content
    jobs = (dataclasses.replace(job, image=image, key=job_key(image, job.prompt_object)),)
    edited = dataclasses.replace(plan, jobs=jobs + plan.jobs[1:])
    diff = diff_plan(edited, read_previous(plan.output_dir, edited))
    (entry,) = diff.of("changed")
    assert entry.changed_fields == ("source image",)


def test_new_job_beside_done_ones(plan, tmp_path):
    complete(plan)
    bigger = make_plan(tmp_path, seasons=("spring", "summer", "winter", "autumn"))
    diff = diff_plan(bigger, read_previous(plan.output_dir, bigger))
    assert sorted(e.output for e in diff.of("new")) == ["autumn/CAP.png", "autumn/MUG.png"]
    assert diff.totals.unchanged == 6 and diff.totals.changed == 0


def test_removed_product_leaves_stale_files(plan, tmp_path):
    complete(plan)
    smaller = make_plan(tmp_path, products=("MUG",))
    diff = diff_plan(smaller, read_previous(plan.output_dir, smaller))
    stale = [e.output for e in diff.of("stale")]
    assert stale == ["spring/CAP.png", "summer/CAP.png", "winter/CAP.png"]
    assert all(e.vars["product"] == "CAP" for e in diff.of("stale"))
    assert diff.totals.stale == 3 and diff.totals.to_generate == 0


def test_stale_files_stay_stale_after_a_later_run_without_them(plan, tmp_path):
    complete(plan)
    smaller = make_plan(tmp_path, products=("MUG",))
    complete(smaller, keys=set())  # a later run of the smaller recipe (nothing new to do)
    diff = diff_plan(smaller, read_previous(plan.output_dir, smaller))
    assert [e.output for e in diff.of("stale")] == [
        "spring/CAP.png",
        "summer/CAP.png",
        "winter/CAP.png",
    ]
    (plan.output_dir / "summer" / "CAP.png").unlink()  # gone from disk: no longer stale
    diff = diff_plan(smaller, read_previous(plan.output_dir, smaller))
    assert diff.totals.stale == 2


def test_paid_but_not_downloaded_costs_nothing(plan):
    complete(plan, download=False)
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert set(statuses(diff).values()) == {"download_only"}
    assert diff.totals.download_only == 6 and diff.totals.estimated_cost_usd == 0


def test_deleted_image_of_a_done_job_is_only_downloaded_again(plan):
    complete(plan)
    (plan.output_dir / plan.jobs[2].outputs[0]).unlink()
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert statuses(diff)[plan.jobs[2].outputs[0]] == "download_only"


def test_job_recorded_but_never_paid_is_new(plan):
    complete(plan, keys={plan.jobs[0].key})  # the run stopped after the first job
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert diff.totals.unchanged == 1 and diff.totals.new == 5


def test_without_state_the_committed_lock_is_used(plan, tmp_path):
    complete(plan)
    lock = render_lock(build_lock(StateStore.read_snapshot(plan.output_dir)))
    (plan.output_dir / "backdrop.lock").write_text(lock)
    shutil.rmtree(plan.output_dir / ".backdrop")  # a fresh checkout: .backdrop/ is not in git
    changed = with_job(plan, 1, prompt="MUG on a summer rooftop")
    diff = diff_plan(changed, read_previous(plan.output_dir, changed))
    assert diff.source == "lock"
    assert diff.totals.unchanged == 5 and diff.totals.changed == 1
    # The lock's request fingerprints name the field, as the state would.
    assert next(diff.of("changed")).changed_fields == ("prompt",)
    assert not (plan.output_dir / ".backdrop").exists()


def fresh_checkout(plan: Plan) -> None:
    """A run's folder as git gives it back: backdrop.lock and the images, no .backdrop/."""
    complete(plan)
    lock = render_lock(build_lock(StateStore.read_snapshot(plan.output_dir)))
    (plan.output_dir / "backdrop.lock").write_text(lock)
    shutil.rmtree(plan.output_dir / ".backdrop")


def test_lock_only_names_a_changed_size_and_a_moved_source_image(plan):
    fresh_checkout(plan)
    changed = with_job(plan, 0, size="1536x1024")
    jobs = list(changed.jobs)
    image = dataclasses.replace(jobs[2].image, ref="images/other.png", sha256="0" * 64)
    jobs[2] = dataclasses.replace(jobs[2], image=image, key=job_key(image, jobs[2].prompt_object))
    changed = dataclasses.replace(changed, jobs=tuple(jobs))
    diff = diff_plan(changed, read_previous(plan.output_dir, changed))
    fields = {entry.output: entry.changed_fields for entry in diff.of("changed")}
    assert fields == {
        plan.jobs[0].outputs[0]: ("size",),
        plan.jobs[2].outputs[0]: ("source image",),
    }


def test_lock_only_a_file_edited_since_is_generated_again(plan):
    fresh_checkout(plan)
    edited = plan.output_dir / plan.jobs[3].outputs[0]
    edited.write_bytes(b"retouched by hand")
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert statuses(diff)[plan.jobs[3].outputs[0]] == "new"
    assert diff.totals.unchanged == 5 and diff.totals.to_generate == 1


def test_json_follows_its_schema(plan):
    complete(plan)
    changed = with_job(make_plan(plan.output_dir.parent, products=("MUG",)), 1, n=2)
    diff = diff_plan(changed, read_previous(plan.output_dir, changed))
    document = json.loads("".join(diff_json_chunks(changed, diff, recipe="recipe.yaml")))
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["totals"]["stale"] == 3
    assert document["totals"]["images_to_generate"] == 2
    assert {job["status"] for job in document["jobs"]} == {"unchanged", "changed", "stale"}
    (changed_job,) = [job for job in document["jobs"] if job["status"] == "changed"]
    assert changed_job["changed_fields"] == ["n"]
    no_jobs = dataclasses.replace(changed, jobs=())
    empty = diff_plan(no_jobs, read_previous(plan.output_dir, no_jobs))
    nothing = json.loads("".join(diff_json_chunks(changed, empty, recipe="r")))
    jsonschema.validate(nothing, json.loads(SCHEMA.read_text()))


def _many_changed(count: int) -> PlanDiff:
    entries = tuple(
        DiffEntry(
            "changed",
            f"market-{i:05d}/a-rather-long-product-name-{i}.webp",
            {"market": f"m{i}", "product": "P"},
            f"market=m{i} product=P season=spring",
            ("prompt", "size"),
            1,
            0.25,
            f"{i:064x}",
        )
        for i in range(count)
    )
    totals = DiffTotals(0, count, 0, 0, 0, count, round(0.25 * count, 4))
    return PlanDiff("state", entries, totals)


def test_markdown_stays_under_the_comment_limit_with_10000_changed_jobs(plan):
    text = diff_markdown(plan, _many_changed(10_000), recipe="recipes/big.yaml")
    assert len(text) < COMMENT_LIMIT
    assert text.startswith(COMMENT_MARKER)
    assert "**10,000 images to generate, estimated $2,500.00**" in text
    assert text.count("\n| changed |") == 50
    assert "and 9,950 more." in text
    assert "<details>" in text and text.rstrip().endswith("</details>")
    assert "more: run `backdrop plan --diff` for the whole list" in text


def test_markdown_lists_everything_when_small_and_escapes_recipe_values(plan):
    diff = _many_changed(3)
    evil = dataclasses.replace(diff.entries[0], label="a|b <script>alert(1)</script>")
    diff = dataclasses.replace(diff, entries=(evil, *diff.entries[1:]))
    text = diff_markdown(plan, diff, recipe="r.yaml")
    assert "<script>" not in text and "a\\|b \\<script\\>alert(1)\\</script\\>" in text
    assert "and " not in text.split("<details>")[0].split("| --- |")[-1]
    assert text.count("- changed: <code>market-") == 3


def test_diff_works_beside_a_running_run_holding_the_lock(plan):
    from runner.execute.folder_guard import FolderGuard

    complete(plan)
    with FolderGuard(plan.output_dir):  # a `backdrop run` is using the folder
        diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert diff.totals.unchanged == 6


def shard_locks(plan: Plan) -> None:
    """out/shard-1 and out/shard-2 as `run --shard K/2` leaves them, in a fresh checkout."""
    for number, jobs in enumerate((plan.jobs[:3], plan.jobs[3:]), start=1):
        shard = dataclasses.replace(plan, output_dir=plan.output_dir / f"shard-{number}", jobs=jobs)
        complete(shard)
        lock = render_lock(build_lock(StateStore.read_snapshot(shard.output_dir)))
        (shard.output_dir / "backdrop.lock").write_text(lock)
        shutil.rmtree(shard.output_dir / ".backdrop")


def test_sharded_locks_in_shard_folders_count_as_the_folder(plan):
    shard_locks(plan)
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert diff.source == "lock"
    assert diff.totals.unchanged == 6 and diff.totals.to_generate == 0


def test_a_shard_file_changed_after_it_was_hashed_is_not_adopted(plan):
    from runner.execute.adopt import lock_adoption, place_adopted

    shard_locks(plan)
    adoption = lock_adoption(plan.output_dir, plan)
    assert len(adoption.done) == len(adoption.copies) == 6
    source, key, record = adoption.copies[0]
    source.write_bytes(b"retouched while the run started")
    placed = place_adopted(plan.output_dir, adoption)
    assert key not in placed.done and len(placed.done) == 5  # generated, not copied
    assert not (plan.output_dir / record.path).exists()
    for source, _, record in placed.copies:
        assert (plan.output_dir / record.path).read_bytes() == source.read_bytes()
    assert not [p for p in plan.output_dir.rglob(".*") if p.name != ".backdrop"]  # no temp left


def test_the_money_guard_agrees_with_the_diff_in_a_fresh_checkout(plan):
    from runner.execute.preview import preview_run
    from runner.execute.run_options import RunOptions

    fresh_checkout(plan)
    (plan.output_dir / plan.jobs[3].outputs[0]).write_bytes(b"retouched by hand")
    changed = with_job(plan, 1, prompt="MUG on a summer rooftop")
    diff = diff_plan(changed, read_previous(plan.output_dir, changed))
    preview = preview_run(changed, RunOptions())
    assert [job.key for job in preview.to_generate] == [
        entry.key for entry in diff.of("new", "changed")
    ]
    assert len(preview.to_generate) == diff.totals.to_generate == 2
    assert preview.up_to_date == diff.totals.unchanged == 4
    assert not (plan.output_dir / ".backdrop").exists()  # the preview only reads


def test_a_state_opened_before_any_run_still_defers_to_the_lock(plan):
    """`run --rejected` opens the state before the run: the clone must still adopt the lock."""
    from runner.execute.adopt import lock_adoption
    from runner.execute.preview import preview_run
    from runner.execute.run_options import RunOptions

    fresh_checkout(plan)
    StateStore.open(plan.output_dir).close()
    assert not StateStore.has_recorded_run(plan.output_dir)
    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert diff.source == "lock" and diff.totals.unchanged == 6
    assert preview_run(plan, RunOptions()).up_to_date == 6

    # The first run takes the adoption in with its own record, in one transaction.
    adoption = lock_adoption(plan.output_dir, plan)
    with StateStore.open(plan.output_dir) as state:
        state.begin_run(plan, "run-1", adoption)
        states = state.job_states([job.key for job in plan.jobs])
    assert StateStore.has_recorded_run(plan.output_dir)
    assert {known.status for known in states.values()} == {"done"}
    assert [f.path for f in states[plan.jobs[0].key].files] == list(plan.jobs[0].outputs)
    again = diff_plan(plan, read_previous(plan.output_dir, plan))
    assert again.source == "state" and again.totals.unchanged == 6


@pytest.mark.parametrize("state", ["fresh clone", "paid here, not downloaded"])
def test_a_damaged_file_a_lock_records_is_not_up_to_date(plan, state):
    """The lock's hash matches a truncated PNG: generated again in a fresh clone, downloaded
    again where the state knows the answer was paid for; plan --diff and run agree."""
    from runner.execute.preview import preview_run
    from runner.execute.run_options import RunOptions

    fresh_checkout(plan)
    damaged = plan.jobs[2]
    path = plan.output_dir / damaged.outputs[0]
    whole = path.read_bytes()
    path.write_bytes(whole[:-20])  # the IEND chunk is gone
    lock = plan.output_dir / "backdrop.lock"
    digest = hashlib.sha256(whole).hexdigest()
    lock.write_text(lock.read_text().replace(digest, hashlib.sha256(whole[:-20]).hexdigest()))
    if state != "fresh clone":  # this machine's run paid for it, then its download failed
        with StateStore.open(plan.output_dir) as store:
            store.begin_run(plan, "run-here")
            store.record_generation(damaged.key, "uuid-here", ["r/here"], None, None)

    diff = diff_plan(plan, read_previous(plan.output_dir, plan))
    preview = preview_run(plan, RunOptions())
    status = statuses(diff)[damaged.outputs[0]]
    if state == "fresh clone":
        assert status == "new" and [job.key for job in preview.to_generate] == [damaged.key]
    else:
        assert status == "download_only" and preview.to_download == 1
        assert not preview.to_generate
    assert diff.totals.unchanged == preview.up_to_date == 5
