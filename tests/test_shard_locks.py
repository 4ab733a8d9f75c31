"""plan --diff and run agree about shard folders' locks: what the diff calls done is never paid."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.cli import main
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.records.lockfile import LOCK_NAME
from tests.clihelp import run_cli
from tests.tinyrun import FAST, charged, planned, run

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
KEY = "sk-TEST-shard-locks-4b1d"
RECIPE = """\
version: 1
name: tiny
defaults: { size: 1024x1024, quality: low, n: 1, output_format: webp }
matrix:
  season: [spring, summer, autumn, winter, rainy, dry]
image: images/mug.png
prompt: "a ceramic mug in {{ season }}, soft light"
output: "{{ season }}/mug"
"""
JOBS = 6


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    # Cached result bytes: compositing is tested elsewhere; only what is paid for matters here.
    with EmulatorServer(EmulatorConfig(api_key=KEY, cache_results=True)) as running:
        yield running


def clone(folder: Path) -> None:
    """What a fresh checkout has of an output folder: the locks and images, no `.backdrop/`."""
    for state in list(folder.rglob(".backdrop")):
        shutil.rmtree(state)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, server: EmulatorServer) -> Path:
    """A fresh clone of a project run both ways: out/tiny/shard-K, one folder per `run --shard
    K/2` (the CI workflow's layout), and flat/, one unsharded run. Each test copies it."""
    root = tmp_path_factory.mktemp("made")
    (root / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", root / "images" / "mug.png")
    (root / "tiny.yaml").write_text(RECIPE)
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    runs = [("--shard", f"{k}/2", "-o", f"out/tiny/shard-{k}") for k in (1, 2)]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("ONEMIN_API_KEY", KEY)
        for args in (*runs, ("-o", "flat")):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
                main(["run", "tiny.yaml", "-y", *urls, *FAST, *args])
            assert exc.value.code == 0, out.getvalue()
    clone(root)
    return root


@pytest.fixture
def project(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(made, folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    return folder


OUT = Path("out") / "tiny"


def outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.webp"))
    }


def test_a_run_beside_shard_locks_pays_only_what_the_diff_announced(project, capsys, server):
    assert not (OUT / LOCK_NAME).exists()
    shard_files = outputs(OUT)
    assert len(shard_files) == JOBS and {p.split("/")[0] for p in shard_files} == {
        "shard-1",
        "shard-2",
    }
    assert planned(capsys) == 0
    before = len(server.api.ledger.entries)
    told = run(capsys, server).out
    assert len(server.api.ledger.entries) == before  # nothing paid
    assert f"Up to date by backdrop.lock: {JOBS} jobs" in told
    assert f"Copied from shard folders: {JOBS} jobs" in told
    # The shards' images are copied into the folder, byte for byte, and locked there.
    copied = {path: data for path, data in outputs(OUT).items() if "shard-" not in path}
    assert sorted(copied.values()) == sorted(shard_files.values())
    assert outputs(OUT).keys() == copied.keys() | shard_files.keys()  # the shards are untouched
    assert run_cli(capsys, "verify", str(OUT)).code == 0
    assert planned(capsys) == 0


def test_a_retouched_or_missing_shard_file_is_generated_as_announced(project, capsys, server):
    one, two = (sorted((OUT / f"shard-{k}").rglob("*.webp")) for k in (1, 2))
    one[0].write_bytes(b"retouched by hand")
    two[0].unlink()
    assert planned(capsys) == charged(capsys, server) == 2
    assert one[0].read_bytes() == b"retouched by hand"  # a shard's own files are never touched
    assert planned(capsys) == 0


def test_the_folders_own_lock_and_its_shards_locks_count_together(project, capsys, server):
    shutil.copytree("flat", OUT, dirs_exist_ok=True)  # an unsharded run's lock and images too
    (OUT / "spring" / "mug.webp").unlink()  # a shard has it intact: copied, not paid for
    (OUT / "summer" / "mug.webp").write_bytes(b"retouched")  # an edit: generated, kept aside
    assert planned(capsys) == charged(capsys, server) == 1
    assert (OUT / "spring" / "mug.webp").read_bytes() == (
        Path("flat") / "spring/mug.webp"
    ).read_bytes()
    assert (OUT / "summer" / "mug.edited.webp").read_bytes() == b"retouched"
    assert planned(capsys) == 0


def test_a_file_backdrop_did_not_write_is_never_overwritten_by_a_shards_copy(
    project, capsys, server
):
    mine = OUT / "spring" / "mug.webp"
    mine.parent.mkdir()
    mine.write_bytes(b"the user's own picture")
    assert planned(capsys) == charged(capsys, server) == 1
    assert (OUT / "spring" / "mug.edited.webp").read_bytes() == b"the user's own picture"


def test_a_shard_run_after_the_number_of_shards_changed(project, capsys, server):
    """CI moves from 2 to 3 shards: a job may land in another shard folder than last time."""
    other = outputs(OUT / "shard-2")
    shard = str(OUT / "shard-1")
    assert planned(capsys) == planned(capsys, "-o", shard) == 0
    assert charged(capsys, server, "--shard", "1/3", "-o", shard) == 0
    assert outputs(OUT / "shard-2") == other
    assert run_cli(capsys, "verify", shard).code == 0


def test_a_shard_run_into_an_unsharded_runs_folder(project, capsys, server):
    lock = (Path("flat") / LOCK_NAME).read_bytes()
    assert planned(capsys, "-o", "flat") == 0
    assert charged(capsys, server, "--shard", "1/2", "-o", "flat") == 0
    # The lock still records every job, not only the shard's: nothing is lost for the next run.
    assert (Path("flat") / LOCK_NAME).read_bytes() == lock


def test_an_unsharded_run_into_a_shard_runs_folder(project, capsys, server):
    shutil.copytree(OUT / "shard-1", "half")  # a shard's lock and images, in any folder
    missing = JOBS - len(outputs(Path("half")))
    assert missing > 0
    assert planned(capsys, "-o", "half") == charged(capsys, server, "-o", "half") == missing
    assert planned(capsys, "-o", "half") == 0


def test_an_unreadable_sibling_lock_is_ignored_by_the_diff_as_by_the_run(project, capsys, server):
    # A merge conflict in another shard's lock: that shard's jobs are not known done, by either.
    lock = OUT / "shard-2" / LOCK_NAME
    lock.write_text("<<<<<<< HEAD\n" + lock.read_text() + ">>>>>>> main\n")
    assert planned(capsys) == charged(capsys, server) == JOBS // 2  # was: diff exit 2, run 3


def test_a_narrowed_first_run_does_not_stop_the_next_from_adopting(project, capsys, server):
    # `--limit 1` records a run; the next full run must still take the shards' jobs as done.
    assert charged(capsys, server, "--limit", "1") == 0
    assert planned(capsys) == charged(capsys, server) == 0
