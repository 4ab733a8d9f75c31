"""End to end in a git repository: init, run against the emulator, commit, change one market."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.emulator.persist import StateFolder
from runner.execute.selection import Shard
from runner.recipe.model import DEFAULT_PRICES
from runner.records.lockfile import LOCK_NAME
from tests.clihelp import backdrop_in

pytestmark = pytest.mark.slow
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
GIT += ["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def backdrop(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # In this process (the real entry point and exit codes): the tests are about git and the
    # diff, not about start-up; tests/test_portable.py and others run backdrop as a child.
    return backdrop_in(cwd, *args)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`backdrop init`, one emulated run, everything committed: shared by this module's tests."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("e2e") / "campaign"
    root.mkdir()
    git(root, "init", "-q")
    assert backdrop(root, "init", ".").returncode == 0
    ran = backdrop(root, "run", "recipe.yaml", "--emulate", "--yes")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first run")
    return root


def test_state_stays_out_of_git_and_the_lock_goes_in(repo):
    committed = git(repo, "ls-files").splitlines()
    assert ".gitignore" in committed and "recipe.yaml" in committed
    assert any(path.endswith("/backdrop.lock") for path in committed)
    assert not [path for path in committed if ".backdrop/" in path]
    assert (repo / "out" / "campaign" / ".backdrop" / "state.db").is_file()
    assert git(repo, "status", "--porcelain") == ""


def test_reports_carry_no_absolute_path(repo):
    out = repo / "out" / "campaign"
    for name in ("backdrop.lock", "results.csv"):
        assert str(repo) not in (out / name).read_text(encoding="utf-8-sig"), name
    results = json.loads((out / "results.json").read_text())
    recipe_path = results["recipe"].pop("path")  # made relative by engineer t11b's change
    assert not [s for s in strings(results) if s.startswith(str(repo))]
    for name in ("junit.xml", "report.html"):
        text = (out / name).read_text(encoding="utf-8").replace(recipe_path, "RECIPE")
        assert str(repo) not in text, name


def test_changing_one_markets_prompt_changes_exactly_its_jobs(repo, tmp_path):
    csv = repo / "data" / "markets.csv"
    original = csv.read_text()
    csv.write_text(original.replace("a calm Kyoto tea room", "a neon Osaka street"))
    try:
        diff = backdrop(repo, "plan", "recipe.yaml", "--diff", "--format", "json")
        assert diff.returncode == 0, diff.stderr
        document = json.loads(diff.stdout)
        changed = [job for job in document["jobs"] if job["status"] == "changed"]
        assert {job["vars"]["market"]["code"] for job in changed} == {"ja-JP"}
        assert len(changed) == 2  # one product x two seasons
        assert all(job["changed_fields"] == ["prompt"] for job in changed)
        totals = document["totals"]
        assert (totals["new"], totals["changed"], totals["unchanged"]) == (0, 2, 2)
        assert totals["download_only"] == totals["stale"] == 0
        assert totals["images_to_generate"] == 2
        assert totals["estimated_cost_usd"] == pytest.approx(
            2 * DEFAULT_PRICES.price("low", "1024x1024")
        )
        coded = backdrop(repo, "plan", "recipe.yaml", "--diff", "--detailed-exitcode")
        assert coded.returncode == 2

        # A fresh clone has no state, only the committed lock: the same jobs change.
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(repo), str(clone))
        shutil.copy(csv, clone / "data" / "markets.csv")
        fresh = json.loads(
            backdrop(clone, "plan", "recipe.yaml", "--diff", "--format", "json").stdout
        )
        assert fresh["compared_with"] == "lock"
        assert [j["output"] for j in fresh["jobs"] if j["status"] == "changed"] == [
            j["output"] for j in changed
        ]
        assert all(
            j["changed_fields"] == ["prompt"] for j in fresh["jobs"] if "changed_fields" in j
        )
        assert not (clone / "out" / "campaign" / ".backdrop").exists()  # read-only
    finally:
        csv.write_text(original)
    unchanged = backdrop(repo, "plan", "recipe.yaml", "--diff", "--detailed-exitcode")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr


def charged_images(out: Path) -> int:
    """Images the emulator of `run --emulate` charged for, from its journal beside the state."""
    restored = StateFolder(out / ".backdrop" / "emulator").load()
    return sum(entry.n for entry in restored.charges)


def images(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.webp"))}


def split_into_shards(out: Path) -> None:
    """The layout `run --shard K/2 -o OUT/shard-K` leaves: each shard folder has its own lock
    and images, the folder itself none. The jobs are split by key, as --shard does."""
    lock = json.loads((out / LOCK_NAME).read_text())
    for k in (1, 2):
        shard = out / f"shard-{k}"
        mine = [entry for entry in lock["outputs"] if Shard(k, 2).contains(entry["job"])]
        assert mine
        for entry in mine:
            (shard / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / entry["path"], shard / entry["path"])
        (shard / LOCK_NAME).write_text(json.dumps({**lock, "outputs": mine}))
    for entry in lock["outputs"]:
        (out / entry["path"]).unlink()
    (out / LOCK_NAME).unlink()


@pytest.mark.parametrize("edit", ["nothing", "prompt-and-an-image", "sharded"])
def test_in_a_fresh_clone_plan_diff_counts_what_run_pays_for(repo, tmp_path, edit):
    """A clone has backdrop.lock and the images, no .backdrop/: plan and run must agree."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    out = clone / "out" / "campaign"
    assert not (out / ".backdrop").exists()
    if edit == "sharded":  # only shard folders' locks: the run copies their images, pays nothing
        before = images(out)
        split_into_shards(out)
        diff = backdrop(clone, "plan", "recipe.yaml", "--diff", "--format", "json")
        assert json.loads(diff.stdout)["totals"]["images_to_generate"] == 0, diff.stderr
        ran = backdrop(clone, "run", "recipe.yaml", "--emulate", "--yes")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert charged_images(out) == 0
        assert "Up to date by backdrop.lock: 4 jobs" in ran.stdout
        assert {p: b for p, b in images(out).items() if not p.startswith("shard-")} == before
        return
    retouched = "fr-FR/SAMPLE-01-spring.webp"
    if edit != "nothing":
        csv = clone / "data" / "markets.csv"
        csv.write_text(csv.read_text().replace("a calm Kyoto tea room", "a neon Osaka street"))
        (out / retouched).write_bytes((out / retouched).read_bytes() + b"retouch")
    before = images(out)
    lock_before = (out / "backdrop.lock").read_bytes()

    diff = backdrop(clone, "plan", "recipe.yaml", "--diff", "--format", "json")
    assert diff.returncode == 0, diff.stderr
    planned = json.loads(diff.stdout)["totals"]["images_to_generate"]
    ran = backdrop(clone, "run", "recipe.yaml", "--emulate", "--yes")
    assert ran.returncode == 0, ran.stdout + ran.stderr

    assert charged_images(out) == planned
    assert planned == (0 if edit == "nothing" else 3)  # 2 ja-JP prompts + the retouched image
    after = images(out)
    if edit == "nothing":
        assert after == before  # the committed images are kept, byte for byte
        assert (out / "backdrop.lock").read_bytes() == lock_before  # git stays clean
        assert "Up to date by backdrop.lock: 4 jobs" in ran.stdout
    else:
        # The retouched file was not adopted: generated again, the edit kept beside it. The
        # old ja-JP images are backdrop's own (as the lock records them): replaced, not kept.
        assert [path for path in after if ".edited" in path] == [
            "fr-FR/SAMPLE-01-spring.edited.webp"
        ]
        assert after["fr-FR/SAMPLE-01-spring.edited.webp"] == before[retouched]
        assert after["fr-FR/SAMPLE-01-autumn.webp"] == before["fr-FR/SAMPLE-01-autumn.webp"]
    again = backdrop(clone, "plan", "recipe.yaml", "--diff", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
