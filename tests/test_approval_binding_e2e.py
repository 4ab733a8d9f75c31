"""An approval belongs to the images it approved (issue 15, blocker 1), end to end against the
emulator: a recipe change, --force --include-approved, a file swapped by hand and a copy from a
shard folder each send the approvals of the images they replace back to review, say so first,
and export never delivers an image nobody approved."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.deliver.export_outputs import MANIFEST_NAME
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.records.state import StateStore
from runner.review.decisions import REVIEW_NAME, load_review
from runner.review.review_server import ReviewServer
from tests.approvalhelp import KEYS, approve_on_page, post_decisions, shown_images, write_campaign
from tests.clihelp import CliResult, backdrop_in, run_cli
from tests.reviewhelp import page_jobs

API_KEY = "sk-TEST-binding-8d2f"
pytestmark = pytest.mark.timeout(240)


class Campaign:
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str], server: EmulatorServer):
        self.root = root
        self.recipe = root / "campaign" / "recipe.yaml"
        self.out = root / "campaign" / "out" / "binding"
        self.capsys = capsys
        self.api = ("--yes", "--api-url", server.base_url, "--asset-url", server.asset_base_url)

    def cli(self, *args: str) -> CliResult:
        return run_cli(self.capsys, *args)

    def run(self, *args: str) -> CliResult:
        result = self.cli("run", str(self.recipe), *self.api, *args)
        assert result.code == 0, result.out + result.err
        return result

    def set_market(self, code: str, setting: str) -> None:
        path = self.root / "campaign" / "data" / "markets.csv"
        rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
        for row in rows:
            if row["code"] == code:
                row["setting"] = setting
        text = "code,setting\n" + "".join(f"{r['code']},{r['setting']}\n" for r in rows)
        path.write_text(text, encoding="utf-8")

    def export(self, to: str = "delivery") -> CliResult:
        return self.cli("export", str(self.out), "--to", str(self.root / to))

    def manifest(self, to: str = "delivery") -> list[dict[str, str]]:
        text = (self.root / to / MANIFEST_NAME).read_text("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=API_KEY)) as server:
        yield server


@pytest.fixture(scope="module")
def approved_campaign(tmp_path_factory, emulator) -> Path:
    """The campaign run once and every job approved on variant 2, as the page does; each test
    works on its own copy (one run for the module, not one per test)."""
    root = tmp_path_factory.mktemp("binding")
    recipe = write_campaign(root / "campaign")
    # Delivered as generated, not sized per channel: export checks the approvals before it
    # renders any channel (deliver/export_outputs.py, _check_approved_bytes), and rendering
    # the two 1080-pixel channels of each image was half of this module's CPU.
    text = recipe.read_text("utf-8")
    recipe.write_text(text[: text.index("channels:")], encoding="utf-8")
    api = ("--yes", "--api-url", emulator.base_url, "--asset-url", emulator.asset_base_url)
    ran = backdrop_in(root, "run", str(recipe), *api, env={"ONEMIN_API_KEY": API_KEY})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    approve_on_page(root / "campaign" / "out" / "binding", KEYS, pick=2)
    return root / "campaign"


@pytest.fixture
def campaign(approved_campaign, emulator, tmp_path, capsys, monkeypatch):
    shutil.copytree(approved_campaign, tmp_path / "campaign")  # times kept: files unchanged
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", API_KEY)
    return Campaign(tmp_path, capsys, emulator)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def page_statuses(out: Path) -> dict[str, str]:
    with ReviewServer(out, lambda: StateStore.read_snapshot(out)) as server:
        return {job["key"]: job["status"] for job in page_jobs(server)}


def test_a_recipe_change_sends_the_approvals_it_replaces_back_to_review(campaign):
    out = campaign.out
    approved = shown_images(out)
    for key in KEYS:
        decision = load_review(out).decision(key)
        assert (decision.status, decision.pick, decision.sha256) == (
            "approved",
            2,
            tuple(approved[key]),
        )

    campaign.set_market("fr-FR", "a windy Normandy beach")

    # plan --diff says it, in text, JSON and Markdown, before anything is spent.
    text = campaign.cli("plan", str(campaign.recipe), "--diff")
    assert text.code == 0, text.err
    assert "2 approved jobs would get new images and go back to review:" in text.out
    assert "  fr-FR/CAP-02 (recipe changed: prompt)" in text.out
    assert "  fr-FR/MUG-01 (recipe changed: prompt)" in text.out
    assert "de-DE/MUG-01 (" not in text.out
    as_json = campaign.cli("plan", str(campaign.recipe), "--diff", "--format", "json")
    diff = json.loads(as_json.out)
    assert diff["totals"]["approvals_replaced"] == 2
    flagged = {
        job["output"]: job["approval_replaced"]
        for job in diff["jobs"]
        if "approval_replaced" in job
    }
    assert flagged == {
        "fr-FR/MUG-01-1.png": {"review_key": "fr-FR/MUG-01", "reason": "recipe changed: prompt"},
        "fr-FR/CAP-02-1.png": {"review_key": "fr-FR/CAP-02", "reason": "recipe changed: prompt"},
    }
    markdown = campaign.cli("plan", str(campaign.recipe), "--diff", "--format", "markdown")
    assert "**2 approved jobs would get new images and go back to review**" in markdown.out
    assert "<code>fr-FR/MUG-01</code>: recipe changed\\: prompt" in markdown.out

    # run's preview says it before the money guard.
    ran = campaign.run()
    assert "2 approved jobs will get new images and go back to review:" in ran.out
    assert ran.out.index("2 approved jobs will get new") < ran.out.index("[1/")
    assert "  fr-FR/MUG-01 (recipe changed: prompt)" in ran.out

    assert "review.yaml: 2 decisions (2 approved) back to pending review" in ran.out
    # A page loaded before the run cannot approve the images it showed: they are gone.
    stale = {
        "job": "fr-FR/MUG-01",
        "action": "approve",
        "pick": 1,
        "images": approved["fr-FR/MUG-01"],
    }
    [refused] = post_decisions(out, [stale])
    assert refused.status_code == 409 and "reload the page" in refused.json()["error"]

    review = load_review(out)
    for key in ("fr-FR/MUG-01", "fr-FR/CAP-02"):
        decision = review.decision(key)
        assert (decision.status, decision.pick, decision.sha256) == ("pending", None, ())
        assert [(h.take, h.status, h.pick, h.reason) for h in decision.history] == [
            (1, "approved", 2, "recipe changed: prompt")
        ]
        assert shown_images(out)[key] != approved[key]
    for key in ("de-DE/MUG-01", "de-DE/CAP-02"):
        assert review.decision(key).status == "approved"
        assert review.decision(key).sha256 == tuple(shown_images(out)[key])
    text_file = (out / REVIEW_NAME).read_text("utf-8")
    assert '        reason: "recipe changed: prompt"\n' in text_file

    # The page shows the truth: the regenerated jobs are pending.
    statuses = page_statuses(out)
    assert statuses == {
        "fr-FR/MUG-01": "pending",
        "de-DE/MUG-01": "approved",
        "fr-FR/CAP-02": "pending",
        "de-DE/CAP-02": "approved",
    }

    # export delivers only what was approved, and exactly the bytes approved.
    exported = campaign.export()
    assert exported.code == 0, exported.err
    assert "fr-FR/MUG-01: pending" in exported.err
    rows = campaign.manifest()
    assert {row["market.code"] for row in rows} == {"de-DE"}
    assert len(rows) == 2  # de-DE's two jobs, each its picked image as generated
    for row in rows:
        key = row["source_output"].rsplit("-", 1)[0]
        assert row["source_sha256"] == approved[key][1] == digest(out / row["source_output"])
        assert (
            row["sha256"]
            == row["source_sha256"]
            == digest(campaign.root / "delivery" / row["file"])
        )


def test_force_include_approved_releases_what_it_regenerates(campaign):
    ran = campaign.run("--force", "--include-approved", "--only", "product.sku=MUG-01")
    assert "2 approved jobs will get new images and go back to review:" in ran.out
    assert "  de-DE/MUG-01 (generated again: --force --include-approved)" in ran.out
    review = load_review(campaign.out)
    for key in ("de-DE/MUG-01", "fr-FR/MUG-01"):
        history = review.decision(key).history
        assert review.decision(key).status == "pending"
        assert [h.reason for h in history] == ["generated again: --force --include-approved"]
    assert review.decision("de-DE/CAP-02").status == "approved"
    # Plain --force leaves approved jobs alone, and so says nothing about them.
    again = campaign.run("--force", "--only", "product.sku=CAP-02")
    assert "approved jobs will get new images" not in again.out
    assert load_review(campaign.out).decision("de-DE/CAP-02").status == "approved"


def test_export_refuses_a_file_swapped_by_hand_until_the_run_restores_it(campaign):
    out = campaign.out
    approved = digest(out / "fr-FR/MUG-01-2.png")
    (out / "fr-FR/MUG-01-2.png").write_bytes((out / "de-DE/CAP-02-1.png").read_bytes())
    refused = campaign.export()
    assert refused.code == 2, refused.out + refused.err
    assert "fr-FR/MUG-01" in refused.err
    assert "not the image that was approved" in refused.err
    assert "review" in refused.err and "run the recipe" in refused.err
    assert not (campaign.root / "delivery").exists()
    assert page_statuses(out)["fr-FR/MUG-01"] == "pending"  # its file is not the one approved
    # A run restores the approved bytes (downloaded again, not paid again): still approved.
    campaign.run()
    assert digest(out / "fr-FR/MUG-01-2.png") == approved
    assert load_review(out).decision("fr-FR/MUG-01").status == "approved"
    assert page_statuses(out)["fr-FR/MUG-01"] == "approved"
    assert campaign.export().code == 0


def test_export_refuses_approvals_bound_to_other_images_or_to_none(campaign):
    out = campaign.out
    path = out / REVIEW_NAME
    text = path.read_text("utf-8")
    mug = shown_images(out)["fr-FR/MUG-01"]
    # An approval pulled from someone else's review, on other images.
    path.write_text(text.replace(mug[0], "0" * 64), encoding="utf-8")
    refused = campaign.export()
    assert refused.code == 2
    assert "fr-FR/MUG-01 (its images were replaced after the approval)" in refused.err
    assert "backdrop review" in refused.err
    assert page_statuses(out)["fr-FR/MUG-01"] == "pending"
    # A hand-written approval without the images' SHA-256 is never delivered silently.
    lines = [
        line for line in text.splitlines(keepends=True) if not re.match(r" +- [0-9a-f]{64}", line)
    ]
    path.write_text("".join(lines).replace("    sha256:\n", ""), encoding="utf-8")
    assert "    sha256:" not in path.read_text("utf-8")
    refused = campaign.export()
    assert refused.code == 2
    assert "approved without the SHA-256 of its images" in refused.err
    assert page_statuses(out) == dict.fromkeys(KEYS, "pending")
    assert not (campaign.root / "delivery").exists()


def test_an_approval_without_a_pick_on_n2_is_an_error_at_its_line(campaign):
    out = campaign.out
    path = out / REVIEW_NAME
    text = path.read_text("utf-8")
    path.write_text(
        text.replace(
            "  fr-FR/CAP-02:\n    status: approved\n    pick: 2\n",
            "  fr-FR/CAP-02:\n    status: approved\n",
        ),
        encoding="utf-8",
    )
    line = path.read_text("utf-8").splitlines().index("  fr-FR/CAP-02:") + 2
    exported = campaign.export()
    assert exported.code == 2
    assert (
        f"review.yaml:{line}:13: error: jobs.fr-FR/CAP-02.status: approved without a pick: "
        "this job has 2 variants" in exported.err
    )
    assert "add 'pick: N'" in exported.err
    reviewed = campaign.cli("review", str(out), "--no-browser", "--port", "1")
    assert reviewed.code == 2
    assert f"review.yaml:{line}:13:" in reviewed.err


def test_a_copy_from_a_shard_folder_releases_the_approval_it_replaces(campaign):
    out = campaign.out
    campaign.set_market("de-DE", "a snowy Alpine chalet")
    # The new images are made in a shard folder (examples/github/run.yml's layout) ...
    for k in (1, 2):
        campaign.run("--shard", f"{k}/2", "-o", str(out / f"shard-{k}"))
    assert load_review(out).decision("de-DE/MUG-01").status == "approved"
    # ... and the folder's own run copies them in: the approved images are replaced.
    ran = campaign.run()
    assert "2 approved jobs will get new images and go back to review:" in ran.out
    review = load_review(out)
    assert review.decision("de-DE/MUG-01").status == "pending"
    assert review.decision("de-DE/CAP-02").history[-1].reason == "recipe changed: prompt"
    assert review.decision("fr-FR/MUG-01").status == "approved"


def test_a_fresh_clone_names_what_changed_from_the_lock(campaign):
    """`plan --diff` in a pull request: no .backdrop/, only the committed lock and review.yaml."""
    shutil.rmtree(campaign.out / ".backdrop")
    campaign.set_market("de-DE", "a snowy Alpine chalet")
    diff = campaign.cli("plan", str(campaign.recipe), "--diff", "--format", "markdown")
    assert diff.code == 0, diff.err
    assert "**2 approved jobs would get new images and go back to review**" in diff.out
    assert "- <code>de-DE/CAP-02</code>: recipe changed\\: prompt" in diff.out


def test_a_retake_of_an_approved_job_moves_it_to_its_next_take(campaign):
    ran = campaign.run("--rejected", "--include-approved", "--only", "market.code=de-DE")
    assert "  de-DE/MUG-01 (regenerated as take 2)" in ran.out
    decision = load_review(campaign.out).decision("de-DE/MUG-01")
    assert (decision.status, decision.take, decision.sha256) == ("pending", 2, ())
    assert [(h.take, h.status, h.pick) for h in decision.history] == [(1, "approved", 2)]
    assert load_review(campaign.out).decision("fr-FR/MUG-01").status == "approved"
    # A change to the retaken job is a change of its prompt, not of its take.
    campaign.set_market("de-DE", "a snowy Alpine chalet")
    diff = json.loads(campaign.cli("plan", str(campaign.recipe), "--diff", "--format", "json").out)
    fields = {job["output"]: job.get("changed_fields") for job in diff["jobs"]}
    assert fields["de-DE/MUG-01-1.png"] == ["prompt"]
