"""A local state must not hide a newer committed lock: what another machine's run committed
(backdrop.lock and its images, pulled from git) is not paid for again, nor moved aside."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.cli import main
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute import adopt
from runner.execute.kept_takes import take_path
from runner.records.lockfile import LOCK_NAME
from runner.records.state import STATE_FILE
from runner.records.state_folder import STATE_DIR
from runner.review.decision_model import Decision, Review
from runner.review.decisions import load_review, save_review
from tests.clihelp import run_cli
from tests.tinyrun import FAST, charged, planned, run

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
KEY = "sk-TEST-pulled-lock-9c2e"
V1 = """\
version: 1
name: tiny
defaults: { size: 1024x1024, quality: low, n: 1, output_format: webp }
matrix:
  season: [spring, summer]
image: images/mug.png
prompt: "a ceramic mug in {{ season }}, soft light"
output: "{{ season }}/mug"
"""
# The new market: a new prompt for every job (new job keys, the same output paths), and more.
# (The emulator's cached results differ by compression only: v2's images are not v1's.)
V2 = (
    V1.replace("spring, summer", "spring, summer, autumn, winter")
    .replace("ceramic", "stone")
    .replace("output_format: webp", "output_format: webp, output_compression: 80")
)
JOBS = 4
OUT = Path("out") / "tiny"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY, cache_results=True)) as running:
        yield running


def cli_run(root: Path, server: EmulatorServer, recipe: str, *args: str) -> None:
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    (root / "tiny.yaml").write_text(recipe)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        main(["run", "tiny.yaml", "-y", *urls, *FAST, *args])
    assert exc.value.code == 0, out.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, server: EmulatorServer) -> Path:
    """anna/: Anna's folder, v1 run there last week (she has a state); ci/: CI's run of v2.
    Plus anna-partial/: Anna started v2 herself (`--limit 1`: one job done, three pending)."""
    root = tmp_path_factory.mktemp("made")
    for name in ("ci", "anna", "anna-partial"):
        (root / name / "images").mkdir(parents=True)
        shutil.copy(EXAMPLE / "images" / "mug.png", root / name / "images" / "mug.png")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONEMIN_API_KEY", KEY)
        patch.chdir(root / "ci")
        cli_run(root / "ci", server, V2)
        shutil.rmtree(OUT / STATE_DIR)  # CI commits the lock and the images, not the state
        patch.chdir(root / "anna")
        cli_run(root / "anna", server, V1)
        patch.chdir(root / "anna-partial")
        cli_run(root / "anna-partial", server, V2, "--limit", "1")
    mine, theirs = (root / name / OUT / "summer" / "mug.webp" for name in ("anna", "ci"))
    assert mine.read_bytes() != theirs.read_bytes()  # so that a pull changes Anna's files
    return root


def git_pull(ci: Path, folder: Path) -> None:
    """What `git pull` brings: CI's recipe, lock and images over the local ones."""
    shutil.copy(ci / "tiny.yaml", folder / "tiny.yaml")
    shutil.copytree(ci / OUT, folder / OUT, dirs_exist_ok=True)


@pytest.fixture
def pulled(
    request: pytest.FixtureRequest, made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A copy of anna/ (or of the folder the test's parameter names), after a `git pull`."""
    folder = tmp_path / "project"
    shutil.copytree(made / getattr(request, "param", "anna"), folder)
    assert (folder / OUT / STATE_DIR / STATE_FILE).is_file()
    git_pull(made / "ci", folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    return folder


def images(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.webp")}


def test_a_pulled_lock_is_not_paid_for_again_nor_moved_aside(pulled, capsys, server):
    before = images(OUT)
    lock = (OUT / LOCK_NAME).read_bytes()
    assert planned(capsys) == 0
    paid = len(server.api.ledger.entries)
    told = run(capsys, server).out
    assert len(server.api.ledger.entries) == paid  # nothing paid
    assert "Up to date by backdrop.lock:" in told
    assert images(OUT) == before  # CI's images, byte for byte; nothing kept as .edited
    assert not [path for path in images(OUT) if ".edited" in path]
    # The outputs are CI's, as pulled. The spending record gains what Anna's own v1 run paid
    # in this folder (her state knew it, the lock did not): the budget counts it for everyone.
    pulled_lock, now = json.loads(lock), json.loads((OUT / LOCK_NAME).read_bytes())
    assert now["outputs"] == pulled_lock["outputs"]
    ci_runs = {g["run"] for g in pulled_lock["generations"]}
    added = [g for g in now["generations"] if g not in pulled_lock["generations"]]
    assert len(added) == 2 and not {g["run"] for g in added} & ci_runs  # v1: two jobs
    assert all(g in now["generations"] for g in pulled_lock["generations"])
    lock = (OUT / LOCK_NAME).read_bytes()
    assert run(capsys, server).out and (OUT / LOCK_NAME).read_bytes() == lock  # then git-quiet
    assert planned(capsys) == 0

    def no_hashing(*args: object) -> None:
        raise AssertionError("the locks agree with the state: nothing to hash")

    with pytest.MonkeyPatch.context() as patch:  # adopted once: the state knows it now
        patch.setattr(adopt, "lock_adoption", no_hashing)
        assert "backdrop.lock" not in run(capsys, server).out
        assert planned(capsys) == 0
    assert run_cli(capsys, "verify", str(OUT)).code == 0


def test_a_job_the_state_has_done_stays_and_an_edit_is_still_an_edit(pulled, capsys, server):
    """The lock adopts only files on disk as recorded: a retouched one is generated again."""
    retouched = OUT / "autumn" / "mug.webp"
    retouched.write_bytes(b"retouched by hand")
    assert planned(capsys) == charged(capsys, server) == 1
    assert (OUT / "autumn" / "mug.edited.webp").read_bytes() == b"retouched by hand"
    assert [path for path in images(OUT) if ".edited" in path] == ["autumn/mug.edited.webp"]
    assert planned(capsys) == charged(capsys, server) == 0


def test_force_pays_for_everything_but_approved_jobs_and_keeps_no_edit(pulled, capsys, server):
    """As in a fresh clone: --force generates again what the lock shows done (approved jobs
    excepted), and the lock's files are Backdrop's own (replaced, not kept aside as edits)."""
    save_review(OUT, Review({"spring/mug": Decision(status="approved")}))
    spring = (OUT / "spring" / "mug.webp").read_bytes()
    assert charged(capsys, server, "--force") == JOBS - 1
    assert (OUT / "spring" / "mug.webp").read_bytes() == spring
    assert not [path for path in images(OUT) if ".edited" in path]


def test_a_shard_run_adopts_what_it_takes(pulled, capsys, server):
    assert planned(capsys) == charged(capsys, server, "--shard", "1/2") == 0
    assert planned(capsys) == charged(capsys, server) == 0
    assert not [path for path in images(OUT) if ".edited" in path]


@pytest.mark.parametrize("pulled", ["anna-partial"], indirect=True)
def test_failed_jobs_and_jobs_done_here_with_other_bytes_take_the_lock_s_files(
    pulled, capsys, server
):
    """Anna started v2 herself (one job done, the others pending); her done job wrote other
    bytes than CI's (which she pulled), another one failed. CI's files are on disk as the lock
    records, and are Backdrop's: not paid for, not kept as edits."""
    with contextlib.closing(sqlite3.connect(OUT / STATE_DIR / STATE_FILE)) as conn, conn:
        failed = "UPDATE jobs SET status = 'failed', error = 'timed out' WHERE idx = 3"
        assert conn.execute(failed).rowcount == 1
        pending = "SELECT COUNT(*) FROM jobs WHERE status = 'pending'"
        assert conn.execute(pending).fetchone() == (JOBS - 2,)
        (key,) = conn.execute("SELECT key FROM jobs WHERE status = 'done'").fetchone()
        (path,) = conn.execute("SELECT path FROM files WHERE job_key = ?", (key,)).fetchone()
        conn.execute("UPDATE files SET sha256 = ? WHERE job_key = ?", ("0" * 64, key))
        conn.execute("UPDATE written_files SET sha256 = ? WHERE path = ?", ("0" * 64, path))
    before = images(OUT)
    assert planned(capsys) == charged(capsys, server) == 0
    assert images(OUT) == before
    assert planned(capsys) == 0


def test_a_take_generated_elsewhere_is_adopted_with_its_review(made, pulled, capsys, server):
    """CI rejected a job and generated its take 2; Anna pulls review.yaml, the lock, the image."""
    ci = pulled.parent / "ci"
    shutil.copytree(made / "ci", ci)
    save_review(ci / OUT, Review({"summer/mug": Decision(status="rejected", note="too dark")}))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ci)
        cli_run(ci, server, V2, "--rejected")
    assert load_review(ci / OUT).decision("summer/mug").take == 2
    shutil.rmtree(ci / OUT / STATE_DIR)
    git_pull(ci, pulled)
    take_two = (OUT / "summer" / "mug.webp").read_bytes()
    assert planned(capsys) == charged(capsys, server) == 0
    assert (OUT / "summer" / "mug.webp").read_bytes() == take_two
    assert not [path for path in images(OUT) if ".edited" in path]


def test_a_retake_after_a_pull_keeps_the_pulled_take_one(pulled, capsys, server):
    """Anna rejects a job of CI's: the image she pulled (not her state's) is kept as take 1."""
    pulled_one = (OUT / "summer" / "mug.webp").read_bytes()
    save_review(OUT, Review({"summer/mug": Decision(status="rejected", note="too dark")}))
    assert charged(capsys, server, "--rejected") == 1
    assert (OUT / take_path("summer/mug.webp", 1)).read_bytes() == pulled_one
    assert not [path for path in images(OUT) if ".edited" in path]
