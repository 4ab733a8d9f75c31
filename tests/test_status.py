"""`backdrop status` through its JSON (and, for a few, its text) on real campaigns run against
the emulator: a fresh recipe, after a run, with failures, rejections, pending jobs, everything
approved, after an export and after a file changed since, n > 1 without a pick, shards, a
budget with maybe-charged generations, a recipe changed since the run; and `next` for each."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from PIL import Image

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.recipe.model import DEFAULT_PRICES
from runner.records.state import StateStore
from runner.records.state_folder import STATE_DIR
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import REVIEW_NAME, save_review
from tests.clihelp import CliResult, backdrop_in, run_cli
from tests.runhelp import copy_campaign
from tests.tinyrun import FAST

KEY = "sk-TEST-status-7c1e"
LOW = DEFAULT_PRICES.price("low", "1024x1024")
SCHEMA = Path(__file__).resolve().parent.parent / "runner" / "schemas" / "status.schema.json"
OUT = "out/status-test"
KEYS = ("fr-FR/MUG-01", "de-DE/MUG-01", "fr-FR/CAP-02", "de-DE/CAP-02")  # plan order
RECIPE = """\
version: 1
name: status-test
{budget}defaults:
  size: 1024x1024
  quality: low
  n: {n}
  output_format: png
matrix:
  product:
    - {{ sku: MUG-01, image: images/mug.png }}
    - {{ sku: CAP-02, image: "{cap}" }}
  market: [fr-FR, de-DE]
image: "{{{{ product.image }}}}"
prompt: "{{{{ product.sku }}}} {prompt} in {{{{ market }}}}"
output: "{{{{ market }}}}/{{{{ product.sku }}}}"
"""
pytestmark = pytest.mark.timeout(300)


@cache
def validator() -> Any:
    return Draft202012Validator(json.loads(SCHEMA.read_text("utf-8")))


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    # Each generation paints images of its own, as 1min.ai does: a new take is another image.
    with EmulatorServer(EmulatorConfig(api_key=KEY)) as running:
        yield running


class Campaign:
    """A 2 products x 2 markets recipe in its own folder, and the commands a user types."""

    def __init__(
        self,
        root: Path,
        capsys: pytest.CaptureFixture[str] | None,
        server: EmulatorServer,
        *,
        write: bool = True,
    ):
        self.root = root
        self.capsys = capsys
        self.server = server
        if not write:
            return  # a copy of a campaign already written (and run)
        for name, colour in (("mug", (200, 30, 30)), ("cap", (30, 60, 200))):
            (root / "images").mkdir(exist_ok=True)
            image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
            image.paste((*colour, 255), (16, 16, 48, 48))
            image.save(root / "images" / f"{name}.png")
        self.write()

    def write(
        self,
        *,
        n: int = 1,
        budget: float | None = None,
        cap: str = "images/cap.png",
        prompt: str = "on a table",
    ) -> None:
        text = RECIPE.format(
            n=n, budget="" if budget is None else f"budget: {budget}\n", cap=cap, prompt=prompt
        )
        (self.root / "recipe.yaml").write_text(text, encoding="utf-8")

    @property
    def out(self) -> Path:
        return self.root / OUT

    def cli(self, *args: str) -> CliResult:
        assert self.capsys is not None
        return run_cli(self.capsys, *args)

    def run(self, *args: str, server: EmulatorServer | None = None, code: int = 0) -> CliResult:
        server = server or self.server
        urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
        result = self.cli("run", "recipe.yaml", "--yes", *urls, *FAST, *args)
        assert result.code == code, result.out + result.err
        return result

    def status(self, target: str = "recipe.yaml", *args: str) -> dict[str, Any]:
        result = self.cli("status", target, "--format", "json", *args)
        assert result.code == 0, result.err
        found: dict[str, Any] = json.loads(result.out)
        validator().validate(found)
        return found

    def text(self, target: str = "recipe.yaml", *args: str) -> str:
        result = self.cli("status", target, *args)
        assert result.code == 0, result.err
        return result.out

    def images(self) -> dict[str, tuple[str, ...]]:
        """Each job's images, as the state records them (what the review page shows)."""
        snapshot = StateStore.read_snapshot(self.out)
        return {
            review_key(job.outputs): tuple(f.sha256 for f in job.files) for job in snapshot.jobs
        }

    def decide(self, statuses: dict[str, str]) -> None:
        """Decisions made on the images in the folder, as the review page saves them: "approved",
        "rejected", or "approved:2" with a pick."""
        images = self.images()
        takes = {
            review_key(job.outputs): job.take for job in StateStore.read_snapshot(self.out).jobs
        }
        review = {}
        for key, said in statuses.items():
            status, _, pick = said.partition(":")
            review[key] = Decision(
                status,  # type: ignore[arg-type]
                pick=int(pick) if pick else None,
                take=takes[key],
                sha256=images[key],
            )
        save_review(self.out, Review(review))

    def approve_all(self, pick: int | None = None) -> None:
        self.decide(dict.fromkeys(KEYS, "approved" if pick is None else f"approved:{pick}"))

    def export(self, to: str = "delivery", *args: str) -> CliResult:
        result = self.cli("export", OUT, "--to", to, *args)
        assert result.code == 0, result.out + result.err
        return result


@pytest.fixture
def campaign(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Campaign:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    # The emulator as if new: its first generation of a picture paints variant 0 again, an
    # image another test's run has rendered already (the render cache), not the next variant.
    server.api.painted = {}
    return Campaign(tmp_path, capsys, server)


@dataclass(frozen=True)
class FirstRun:
    root: Path
    painted: dict[Any, int]  # the emulator's count of images painted per picture, after it


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, server: EmulatorServer) -> FirstRun:
    """The recipe as written, run once for the module (`backdrop run recipe.yaml`)."""
    root = tmp_path_factory.mktemp("status-run")
    server.api.painted = {}
    Campaign(root, None, server)
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    ran = backdrop_in(
        root, "run", "recipe.yaml", "--yes", *urls, *FAST, env={"ONEMIN_API_KEY": KEY}
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return FirstRun(root, dict(server.api.painted))


@pytest.fixture
def ran(
    first_run: FirstRun,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    server: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Campaign:
    """The campaign after `backdrop run recipe.yaml`: a copy of the module's run, as if made in
    this folder, and the emulator as just after it: a new take paints the picture's next
    variant, as it would have after this test's own run."""
    copy_campaign(first_run.root, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    server.api.painted = dict(first_run.painted)
    return Campaign(tmp_path, capsys, server, write=False)


def run_argv(step: dict[str, Any]) -> list[str]:
    """A step's command as a POSIX shell splits it: it must be the step's own arguments."""
    words = shlex.split(step["command"])
    assert words == step["argv"]
    return words


# --- from a fresh recipe to a delivery ---------------------------------------------------------


def test_a_fresh_recipe_says_nothing_is_generated_and_to_run_it(campaign):
    found = campaign.status()
    assert (found["jobs"], found["generated"], found["not_run"], found["failed"]) == (4, 0, 4, 0)
    assert (found["has_run"], found["spent_usd"], found["budget_usd"]) == (False, 0.0, None)
    assert found["next"] == ["backdrop run recipe.yaml"]
    assert found["steps"][0]["why"] == f"generate 4 jobs not run yet (${4 * LOW:,.2f} estimated)"
    text = campaign.text()
    assert (
        f"Nothing generated yet: 4 jobs in the recipe, 4 images, ${4 * LOW:,.2f} estimated" in text
    )
    assert text.endswith(f"Next:\n  backdrop run recipe.yaml\n      {found['steps'][0]['why']}\n")
    assert not (campaign.root / "out").exists()  # read-only: no .backdrop/, no folder at all


def test_after_a_run_the_jobs_are_pending_review_from_the_recipe_or_the_folder(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    found = campaign.status()
    assert (found["generated"], found["not_run"], found["pending"], found["approved"]) == (
        4,
        0,
        4,
        0,
    )
    assert found["lists"]["pending"] == list(KEYS)
    assert found["spent_usd"] == pytest.approx(4 * LOW)
    assert found["next"] == [f"backdrop review {OUT}"]

    by_folder = campaign.status(OUT)  # the recipe is found from the folder's last run
    assert by_folder["recipe"] == "recipe.yaml" and by_folder["recipe_found"] is True
    assert by_folder["next"] == found["next"]
    text = campaign.text(OUT)
    assert "Recipe: recipe.yaml (the recipe this folder was run from)" in text
    assert "Jobs: 4 in the recipe; 4 generated, 0 failed, 0 not run" in text
    assert "Review: 0 approved, 0 rejected, 4 pending" in text
    assert f"Next:\n  backdrop review {OUT}\n      decide on 4 pending jobs\n" in text


def test_failed_jobs_are_retried_and_the_rest_reviewed(campaign):
    campaign.write(cap="asset:images/never-uploaded.png")  # the API refuses it: a 4xx, unpaid
    campaign.run(code=1)
    found = campaign.status()
    assert (found["generated"], found["failed"], found["not_run"]) == (2, 2, 0)
    assert found["lists"]["failed"] == ["fr-FR/CAP-02", "de-DE/CAP-02"]
    assert found["spent_usd"] == pytest.approx(2 * LOW)  # the refusals cost nothing
    assert found["next"] == ["backdrop run recipe.yaml --retry-failed", f"backdrop review {OUT}"]
    assert found["steps"][0]["why"] == f"retry 2 failed jobs (${2 * LOW:,.2f} estimated)"
    assert "  failed: fr-FR/CAP-02, de-DE/CAP-02" in campaign.text()


def test_rejections_are_generated_again_then_reviewed_then_exported(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    campaign.decide(
        {
            "fr-FR/MUG-01": "rejected",
            "de-DE/MUG-01": "approved",
            "fr-FR/CAP-02": "approved",
            "de-DE/CAP-02": "approved",
        }
    )
    found = campaign.status()
    assert (found["approved"], found["rejected"], found["pending"]) == (3, 1, 0)
    assert found["lists"]["rejected"] == ["fr-FR/MUG-01"]
    # A choice: a new take of the rejected job, or deliver the three approved now.
    assert found["next"] == [
        "backdrop run recipe.yaml --rejected",
        f"backdrop export {OUT} --to delivery/status-test",
    ]
    assert (
        found["steps"][0]["why"] == f"generate a new take of 1 rejected job (${LOW:,.2f} estimated)"
    )
    assert (
        found["steps"][1]["why"] == "deliver the 3 approved jobs (1 job not approved is left out)"
    )

    campaign.run("--rejected")
    found = campaign.status()
    assert (found["approved"], found["rejected"], found["pending"]) == (3, 0, 1)
    assert found["lists"]["pending"] == ["fr-FR/MUG-01"]
    assert found["next"] == [f"backdrop review {OUT}"]  # decide first: no export offered yet

    campaign.decide(
        {
            "fr-FR/MUG-01": "approved",
            "de-DE/MUG-01": "approved",
            "fr-FR/CAP-02": "approved",
            "de-DE/CAP-02": "approved",
        }
    )
    found = campaign.status()
    assert found["approved"] == 4 and found["exported"] == 0
    assert found["next"] == [f"backdrop export {OUT} --to delivery/status-test"]
    for step in found["steps"]:
        run_argv(step)


def test_an_export_then_files_changed_since_it(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    campaign.approve_all()
    campaign.export("delivery")
    found = campaign.status()
    assert (found["exported"], found["changed_since_export"], found["next"]) == (4, 0, [])
    assert found["deliveries"] == [
        {"to": "delivery", "manifest": "ours", "jobs": 4, "changed_since_export": 0,
         "missing_files": 0}
    ]  # fmt: skip
    assert campaign.text().endswith("Next: nothing to do: every job is approved and exported.\n")

    # A delivered file deleted: the export to the same folder brings it back.
    (campaign.root / "delivery" / "de-DE" / "CAP-02.png").unlink()
    found = campaign.status()
    assert found["changed_since_export"] == 1 and found["lists"]["changed_since_export"] == [
        "de-DE/CAP-02"
    ]
    assert found["deliveries"][0]["missing_files"] == 1
    assert found["next"] == [f"backdrop export {OUT} --to delivery"]
    campaign.export("delivery")
    assert campaign.status()["next"] == []

    # An output image changed by hand: its approval does not hold for it, the run restores it.
    image = campaign.out / "fr-FR" / "MUG-01.png"
    image.write_bytes(image.read_bytes() + b"retouched")
    found = campaign.status()
    assert (found["changed_on_disk"], found["pending"], found["approved"]) == (1, 1, 3)
    assert found["lists"]["changed_on_disk"] == ["fr-FR/MUG-01"]
    assert found["lists"]["changed_since_export"] == ["fr-FR/MUG-01"]
    assert found["next"] == ["backdrop run recipe.yaml"]  # not review: the run restores it
    assert found["steps"][0]["why"] == (
        "restore the images of 1 job, changed or missing on disk (nothing to pay)"
    )
    campaign.run()
    found = campaign.status()
    assert (found["changed_on_disk"], found["approved"], found["changed_since_export"]) == (0, 4, 0)
    assert found["next"] == []


def test_a_new_take_approved_after_the_export_asks_for_the_export_again(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    campaign.approve_all()
    campaign.export("delivery", "--zip")
    campaign.decide(
        {
            "fr-FR/MUG-01": "rejected",
            "de-DE/MUG-01": "approved",
            "fr-FR/CAP-02": "approved",
            "de-DE/CAP-02": "approved",
        }
    )
    found = campaign.status()
    assert found["lists"]["changed_since_export"] == ["fr-FR/MUG-01"]  # no longer approved
    campaign.run("--rejected")
    campaign.approve_all()
    found = campaign.status()
    assert (found["approved"], found["exported"], found["changed_since_export"]) == (4, 4, 1)
    # The export again, into the same folder, zipped as before: the same names.
    assert found["next"] == [f"backdrop export {OUT} --to delivery --zip"]
    assert found["steps"][0]["why"] == "update the delivery: 1 job changed since the export"
    campaign.export("delivery", "--zip")
    assert campaign.status()["next"] == []


def test_an_approval_without_a_pick_is_pending_and_review_yaml_is_pointed_at(campaign):
    campaign.write(n=2)
    campaign.run()
    campaign.decide(
        {
            "fr-FR/MUG-01": "approved",
            "de-DE/MUG-01": "approved:1",
            "fr-FR/CAP-02": "approved:2",
            "de-DE/CAP-02": "approved:2",
        }
    )
    found = campaign.status()
    assert (found["approved"], found["pending"], found["approvals_without_pick"]) == (3, 1, 1)
    assert found["lists"]["pending"] == ["fr-FR/MUG-01"]
    [problem] = found["problems"]
    text = (campaign.out / REVIEW_NAME).read_text("utf-8").splitlines()
    line = next(i for i, row in enumerate(text, 1) if row == "  fr-FR/MUG-01:") + 1
    assert (problem["file"], problem["line"]) == (f"{OUT}/{REVIEW_NAME}", line)
    assert problem["message"] == "approved without a pick: this job has 2 variants"
    # review and export refuse the file: nothing to run until it is fixed by hand.
    assert found["next"] == []
    assert any(
        "review.yaml has 1 decision that review and export refuse" in n for n in found["notes"]
    )
    shown = campaign.text()
    assert (
        f"{OUT}/{REVIEW_NAME}:{line}:13: error: jobs.fr-FR/MUG-01.status: approved without" in shown
    )
    assert "Next: nothing to run (see the notes above)." in shown


def test_a_recipe_changed_since_the_run(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    campaign.approve_all()
    campaign.write(prompt="on a marble table")
    found = campaign.status()
    assert (found["recipe_changed"], found["changed_in_recipe"], found["not_run"]) == (True, 4, 4)
    assert (found["generated"], found["approved"], found["approvals_replaced"]) == (0, 0, 4)
    assert found["next"] == ["backdrop run recipe.yaml"]
    assert found["steps"][0]["why"] == (
        f"generate again 4 jobs changed in the recipe (prompt) (${4 * LOW:,.2f} estimated)"
    )
    assert any("4 approved job(s) will get new images" in note for note in found["notes"])
    # The counts add up to the jobs: the four have no images to decide on until the run.
    assert "Review: 0 approved, 0 rejected, 0 pending, 4 with no images yet" in campaign.text()

    # A market removed: its images are stale, its decisions orphaned.
    campaign.write()
    text = (campaign.root / "recipe.yaml").read_text().replace("[fr-FR, de-DE]", "[fr-FR]")
    (campaign.root / "recipe.yaml").write_text(text)
    found = campaign.status()
    assert (found["jobs"], found["generated"], found["recipe_changed"]) == (2, 2, True)
    assert (found["removed_from_recipe"], found["stale_files"]) == (2, 2)
    assert found["orphaned_decisions"] == ["de-DE/CAP-02", "de-DE/MUG-01"]
    assert found["next"] == [
        "backdrop run recipe.yaml --prune",
        f"backdrop export {OUT} --to delivery/status-test",  # the two left are approved
    ]


def test_without_its_recipe_the_folder_still_says_where_it_stands(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    campaign.approve_all()
    (campaign.root / "recipe.yaml").rename(campaign.root / "elsewhere.yaml")
    found = campaign.status(OUT)
    assert (found["recipe"], found["recipe_gone"]) == (None, "recipe.yaml")
    assert (found["jobs"], found["approved"], found["budget_usd"]) == (4, 4, None)
    assert found["next"] == [f"backdrop export {OUT} --to delivery/status-test"]
    assert any("recipe.yaml, is gone" in note for note in found["notes"])


# --- spending ----------------------------------------------------------------------------------


def test_the_budget_counts_maybe_charged_generations_and_stops_offering_runs(campaign):
    budget = round(5 * LOW, 4)
    campaign.write(budget=budget)
    failing = EmulatorConfig(api_key=KEY, charge_then_fail_rate=1.0)  # 504 after charging
    with EmulatorServer(failing) as broken:
        campaign.run("--max-attempts", "1", server=broken, code=1)
    found = campaign.status()
    assert (found["failed"], found["maybe_charged"]) == (4, 4)
    assert found["maybe_charged_usd"] == pytest.approx(4 * LOW)
    assert found["spent_usd"] == pytest.approx(4 * LOW)  # what the budget counts
    assert found["budget_left_usd"] == pytest.approx(LOW)
    # Retrying all four would pass the budget: no run is offered, a note says why.
    assert found["next"] == []
    assert any(
        note.startswith("the budget does not allow it: retrying the failed jobs would cost")
        for note in found["notes"]
    )
    text = campaign.text()
    said = f"Spent so far: $0.00 + ${4 * LOW:,.2f} maybe charged (estimates from list prices);"
    assert f"{said} budget ${budget:,.2f}: ${budget - 4 * LOW:,.2f} left" in text

    campaign.write(budget=1)
    assert campaign.status()["next"] == ["backdrop run recipe.yaml --retry-failed"]


def test_shard_folders_count_and_the_run_takes_their_jobs_in(campaign):
    for k in (1, 2):
        campaign.run("--shard", f"{k}/2", "-o", f"{OUT}/shard-{k}")
    found = campaign.status()
    assert (found["has_run"], found["generated"], found["from_lock"]) == (False, 4, 4)
    assert found["spent_usd"] == pytest.approx(4 * LOW)  # both shards' spending
    assert found["next"] == ["backdrop run recipe.yaml"]
    assert found["steps"][0]["why"] == "take in 4 jobs that backdrop.lock records (nothing to pay)"
    shard = campaign.status(f"{OUT}/shard-1")  # one shard: its K/N is not known here
    assert shard["shard_folder"] is True and shard["spent_usd"] == pytest.approx(4 * LOW)
    assert not [command for command in shard["next"] if command.startswith("backdrop run")]
    assert any(f"`backdrop status {OUT}` shows the whole campaign" in n for n in shard["notes"])
    charged = len(campaign.server.api.ledger.entries)
    campaign.run()
    assert len(campaign.server.api.ledger.entries) == charged  # copied, as announced
    found = campaign.status()
    assert (found["has_run"], found["generated"], found["from_lock"]) == (True, 4, 0)
    assert found["spent_usd"] == pytest.approx(4 * LOW)
    assert found["next"] == [f"backdrop review {OUT}"]


# --- errors and read-only -----------------------------------------------------------------------


def test_a_damaged_review_yaml_is_an_error_at_its_line(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    (campaign.out / REVIEW_NAME).write_text("version: 1\njobs:\n  x: {status: maybe}\n")
    result = campaign.cli("status", "recipe.yaml")
    assert result.code == 2
    assert f"{OUT}/{REVIEW_NAME}:3:15: error: jobs.x.status: 'maybe' is not one of" in result.err


def test_a_bad_recipe_is_diagnosed(campaign):
    (campaign.root / "recipe.yaml").write_text("version: 1\nname: x\nimage: a.png\n")
    result = campaign.cli("status", "recipe.yaml")
    assert result.code == 2
    assert "recipe.yaml" in result.err and "error:" in result.err


def test_a_damaged_state_says_so(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    (campaign.out / STATE_DIR / "state.db").write_bytes(b"this is not a database" * 100)
    for name in ("state.db-wal", "state.db-shm"):
        (campaign.out / STATE_DIR / name).unlink(missing_ok=True)
    result = campaign.cli("status", "recipe.yaml")
    assert result.code == 3, result.err
    assert "the state is damaged" in result.err and "never delete .backdrop" in result.err


def test_a_folder_no_run_has_written_to(campaign):
    (campaign.root / "empty").mkdir()
    found = campaign.status("empty")
    assert (found["has_run"], found["jobs"], found["recipe"], found["next"]) == (
        False,
        0,
        None,
        [],
    )
    assert "Recipe: not known: no run is recorded in this folder" in campaign.text("empty")
    missing = campaign.cli("status", "nowhere")
    assert missing.code == 2 and "does not exist" in missing.err


def test_status_reads_only_and_notices_a_run_in_progress(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    campaign.approve_all()
    campaign.write(prompt="on a marble table")  # work for a run
    lock = campaign.out / STATE_DIR / "lock"

    def files() -> dict[Path, tuple[int, int]]:
        # SQLite's own -shm index is written by any reader of a WAL database: not a change.
        found = (p for p in campaign.root.rglob("*") if p != lock and p.suffix != ".db-shm")
        return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in found}

    before = files()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(f"{sleeper.pid}\n")
        found = campaign.status()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert found["run_in_progress"] is True
    assert found["next"] == []  # not `backdrop run`: it would be refused while the other runs
    assert any(
        f"a run (pid {sleeper.pid}) is writing into this folder" in n for n in found["notes"]
    )
    lock.write_text("")  # as a run leaves it
    assert files() == before
    found = campaign.status()
    assert (found["run_in_progress"], found["next"]) == (False, ["backdrop run recipe.yaml"])


def test_paths_with_spaces_and_quotes_are_quoted_for_the_shell(campaign, tmp_path, monkeypatch):
    folder = tmp_path / "it's a folder"
    shutil.copytree(campaign.root / "images", folder / "images")
    shutil.copy(campaign.root / "recipe.yaml", folder / "recipe.yaml")
    monkeypatch.chdir(tmp_path)
    found = campaign.status(str(Path("it's a folder") / "recipe.yaml"))
    [step] = found["steps"]
    assert step["argv"] == ["backdrop", "run", os.path.join("it's a folder", "recipe.yaml")]
    assert step["command"] == "backdrop run 'it'\\''s a folder/recipe.yaml'"
    assert run_argv(step) == step["argv"]


def test_a_fresh_clone_finds_its_recipe_and_its_decisions_by_backdrop_lock(ran):
    campaign = ran  # after `backdrop run recipe.yaml`
    campaign.approve_all()
    shutil.rmtree(campaign.out / STATE_DIR)  # a clone: the lock, the images, review.yaml
    found = campaign.status(OUT)
    assert (found["recipe"], found["recipe_found"], found["has_run"]) == (
        "recipe.yaml",
        True,
        False,
    )
    assert (found["generated"], found["from_lock"], found["approved"]) == (4, 4, 4)
    assert found["spent_usd"] == pytest.approx(4 * LOW)  # the lock records what was paid
    assert found["next"] == ["backdrop run recipe.yaml"]
    assert found["steps"][0]["why"] == "take in 4 jobs that backdrop.lock records (nothing to pay)"
    charged = len(campaign.server.api.ledger.entries)
    campaign.run()
    assert len(campaign.server.api.ledger.entries) == charged
    assert campaign.status(OUT)["next"] == [f"backdrop export {OUT} --to delivery/status-test"]


def test_a_state_naming_a_recipe_outside_the_repository_is_not_read(ran, tmp_path_factory):
    import sqlite3

    campaign = ran  # after `backdrop run recipe.yaml`

    (campaign.root / ".git").mkdir()  # the campaign is a repository (a pull request's checkout)
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "secret.yaml"
    elsewhere.write_text("version: 1\nname: SECRET-CONTENT\n")
    with sqlite3.connect(campaign.out / STATE_DIR / "state.db") as conn:
        conn.execute("UPDATE runs SET recipe_path = ?", (str(elsewhere),))
    conn.close()
    result = campaign.cli("status", OUT, "--format", "json")
    assert result.code == 0, result.err
    assert "SECRET" not in result.out + result.err
    found = json.loads(result.out)
    assert (found["recipe"], found["jobs"], found["next"]) == (None, 4, [f"backdrop review {OUT}"])
    assert any("lies outside the project" in note for note in found["notes"])


def test_results_paid_for_but_not_downloaded_are_fetched_by_a_run(campaign):
    (campaign.root / "out" / "status-test").mkdir(parents=True)
    (campaign.out / "fr-FR").write_text("a file where the fr-FR folder goes")
    campaign.run(code=1)
    found = campaign.status()
    assert (found["generated"], found["paid_not_downloaded"], found["failed"]) == (2, 2, 0)
    assert found["lists"]["paid_not_downloaded"] == ["fr-FR/MUG-01", "fr-FR/CAP-02"]
    assert found["next"] == ["backdrop run recipe.yaml", f"backdrop review {OUT}"]
    assert found["steps"][0]["why"] == "download 2 results already paid for (nothing to pay)"
    (campaign.out / "fr-FR").unlink()
    charged = len(campaign.server.api.ledger.entries)
    campaign.run()
    assert len(campaign.server.api.ledger.entries) == charged  # downloaded, not paid again
    assert campaign.status()["generated"] == 4


def test_a_folder_run_with_o_is_run_again_with_o(campaign):
    campaign.run("-o", "trial")
    found = campaign.status("trial")
    assert (found["recipe"], found["output_dir"], found["generated"]) == ("recipe.yaml", "trial", 4)
    assert found["next"] == ["backdrop review trial"]
    campaign.write(prompt="on a marble table")
    assert campaign.status("trial")["next"] == ["backdrop run recipe.yaml -o trial"]
    assert campaign.status("recipe.yaml", "-o", "trial")["next"] == [
        "backdrop run recipe.yaml -o trial"
    ]


def test_an_export_folder_recorded_outside_the_repository_is_never_offered(ran, tmp_path_factory):
    campaign = ran  # after `backdrop run recipe.yaml`
    (campaign.root / ".git").mkdir()  # a pull request's checkout, .backdrop/ and all
    campaign.approve_all()
    outside = tmp_path_factory.mktemp("somebody-elses")
    record = {"format": 1, "folders": {str(outside): {"manifest.csv": "0" * 64}}}
    (campaign.out / STATE_DIR / "exports.json").write_text(json.dumps(record))
    found = campaign.status()
    assert found["deliveries"][0]["manifest"] == "missing"
    assert found["next"] == [f"backdrop export {OUT} --to delivery/status-test"]
    inside = campaign.root / "delivered-before"
    record = {"format": 1, "folders": {str(inside): {"manifest.csv": "0" * 64}}}
    (campaign.out / STATE_DIR / "exports.json").write_text(json.dumps(record))
    assert campaign.status()["next"] == [f"backdrop export {OUT} --to delivered-before"]
