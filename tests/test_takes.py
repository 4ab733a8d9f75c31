"""Takes: keys per take, review.yaml decisions applied to the plan, and older states."""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.execute.kept_takes import take_path
from runner.plan.plan_model import Plan
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import save_review
from runner.review.retakes import plan_takes, take_key
from tests.clihelp import run_cli
from tests.deliverhelp import write_campaign
from tests.statehelp import make_plan


def _review(plan: Plan, *decisions: Decision) -> Review:
    keys = [review_key(job.outputs) for job in plan.jobs]
    return Review(dict(zip(keys, decisions, strict=False)))


def test_take_one_keeps_the_plain_key_and_later_takes_are_stable_and_distinct() -> None:
    key = "ab" * 32
    assert take_key(key, 1) == key
    assert take_key(key, 2) == take_key(key, 2)
    assert len({key, take_key(key, 2), take_key(key, 3)}) == 3


def test_rejected_jobs_get_their_next_take_and_only_they_are_selected(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 3)
    review = _review(
        plan,
        Decision(status="approved"),
        Decision(status="rejected", note="too dark"),
        Decision(status="pending", take=2),
    )
    takes = plan_takes(plan, review, rejected=True)
    approved, rejected, pending = takes.plan.jobs
    assert approved.key == plan.jobs[0].key and approved.take == 1
    assert (rejected.key, rejected.take) == (take_key(plan.jobs[1].key, 2), 2)
    assert (pending.key, pending.take) == (take_key(plan.jobs[2].key, 2), 2)
    assert takes.keys == {rejected.key}
    assert takes.protected == {approved.key}
    (retake,) = takes.retakes
    assert (retake.previous_key, retake.previous_take) == (plan.jobs[1].key, 1)


def test_without_rejected_the_plan_keeps_every_current_take(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 2)
    takes = plan_takes(plan, _review(plan, Decision(status="rejected")))
    assert [job.key for job in takes.plan.jobs] == [job.key for job in plan.jobs]
    assert takes.keys is None and not takes.retakes


def test_include_approved_lifts_the_protection(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 1)
    review = _review(plan, Decision(status="approved", pick=1))
    assert plan_takes(plan, review, include_approved=True).protected == frozenset()
    takes = plan_takes(plan, review, rejected=True, include_approved=True)
    assert takes.plan.jobs[0].take == 2


def test_run_rejected_with_nothing_rejected_spends_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = write_campaign(tmp_path / "campaign")
    result = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "--rejected")
    assert result.code == 0
    assert "no job is rejected in review.yaml" in result.err
    assert not (tmp_path / "campaign" / "out").exists()


def test_run_reports_a_broken_review_file_at_its_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = write_campaign(tmp_path / "campaign")
    out = tmp_path / "campaign" / "out" / "deliver-test"
    out.mkdir(parents=True)
    (out / "review.yaml").write_text("version: 1\njobs:\n  fr-FR/MUG-01:\n    status: aproved\n")
    result = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "--rejected")
    assert result.code == 2
    assert "review.yaml:4:13" in result.err
    assert not (out / ".backdrop").exists()


def test_run_rejected_after_fixing_the_prompt_keeps_take_one(tmp_path, capsys, monkeypatch):
    """The usual retake: reject with a note, fix the prompt, regenerate; take 1 is kept."""
    monkeypatch.chdir(tmp_path)
    recipe = write_campaign(tmp_path / "campaign")
    out = tmp_path / "campaign" / "out" / "deliver-test"
    assert run_cli(capsys, "run", str(recipe), "--emulate", "-y").code == 0
    take_one = (out / "fr-FR/MUG-01.png").read_bytes()
    save_review(out, Review({"fr-FR/MUG-01": Decision(status="rejected", note="too dark")}))
    text = recipe.read_text("utf-8")
    recipe.write_text(text.replace("on a table", "on a bright table"), "utf-8")

    again = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "--rejected")
    assert again.code == 0, again.err
    kept = out / take_path("fr-FR/MUG-01.png", 1)
    assert kept.read_bytes() == take_one
    assert (out / "fr-FR/MUG-01.png").read_bytes() != take_one  # take 2, from the new prompt


def test_run_rejected_in_a_fresh_clone_keeps_take_one_from_the_lock(tmp_path, capsys, monkeypatch):
    """A clone has backdrop.lock and the images, no .backdrop/: take 1 is still kept."""
    monkeypatch.chdir(tmp_path)
    recipe = write_campaign(tmp_path / "campaign")
    out = tmp_path / "campaign" / "out" / "deliver-test"
    assert run_cli(capsys, "run", str(recipe), "--emulate", "-y").code == 0
    take_one = (out / "fr-FR/MUG-01.png").read_bytes()
    shutil.rmtree(out / ".backdrop")
    save_review(out, Review({"fr-FR/MUG-01": Decision(status="rejected", note="too dark")}))
    text = recipe.read_text("utf-8")
    recipe.write_text(text.replace("on a table", "on a bright table"), "utf-8")

    again = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "--rejected")
    assert again.code == 0, again.err
    assert (out / take_path("fr-FR/MUG-01.png", 1)).read_bytes() == take_one
    assert (out / "fr-FR/MUG-01.png").read_bytes() != take_one
    assert not list(out.rglob("*.edited.*"))


def test_run_rejected_in_a_rehearsal_paints_a_new_picture(tmp_path, capsys, monkeypatch):
    """Issue 17: the same request again (nothing changed but the rejection) is a new take that
    looks new, as on the real API; "Compare with take 1" shows two pictures."""
    from tests.emulator_support import VISIBLY_DIFFERENT, mean_difference

    monkeypatch.chdir(tmp_path)
    recipe = write_campaign(tmp_path / "campaign")
    out = tmp_path / "campaign" / "out" / "deliver-test"
    assert run_cli(capsys, "run", str(recipe), "--emulate", "-y").code == 0
    take_one = (out / "fr-FR/MUG-01.png").read_bytes()
    save_review(out, Review({"fr-FR/MUG-01": Decision(status="rejected", note="try again")}))

    again = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "--rejected")
    assert again.code == 0, again.err
    assert (out / take_path("fr-FR/MUG-01.png", 1)).read_bytes() == take_one
    take_two = (out / "fr-FR/MUG-01.png").read_bytes()
    assert mean_difference(take_one, take_two) > VISIBLY_DIFFERENT
