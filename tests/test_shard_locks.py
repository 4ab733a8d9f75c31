"""plan --diff and run agree about shard folders' locks: what the diff calls done is never paid."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.report.manifest import LOCK_NAME
from tests.clihelp import run_cli

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
KEY = "sk-TEST-shard-locks-4b1d"
FAST = ("--rpm", "60000")
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


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: EmulatorServer) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    (tmp_path / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", tmp_path / "images" / "mug.png")
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], server: EmulatorServer, *args: str) -> int:
    """`backdrop run tiny.yaml ARGS` against the emulator; returns the images it was charged for."""
    before = sum(entry.n for entry in server.api.ledger.entries)
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    result = run_cli(capsys, "run", "tiny.yaml", "-y", *urls, *FAST, *args)
    assert result.code == 0, result.out + result.err
    return sum(entry.n for entry in server.api.ledger.entries) - before


def planned(capsys: pytest.CaptureFixture[str], *args: str) -> int:
    """The images `plan --diff` says a run would generate."""
    result = run_cli(capsys, "plan", "tiny.yaml", "--diff", "--format", "json", *args)
    assert result.code == 0, result.err
    return int(json.loads(result.out)["totals"]["images_to_generate"])


def clone(folder: Path) -> None:
    """What a fresh checkout has of an output folder: the locks and images, no `.backdrop/`."""
    for state in folder.rglob(".backdrop"):
        shutil.rmtree(state)


def sharded(capsys: pytest.CaptureFixture[str], server: EmulatorServer, shards: int = 2) -> Path:
    """The CI workflow's layout: out/tiny/shard-K, one folder per `run --shard K/N`."""
    out = Path("out") / "tiny"
    for k in range(1, shards + 1):
        run(capsys, server, "--shard", f"{k}/{shards}", "-o", str(out / f"shard-{k}"))
    clone(out)
    return out


def test_a_run_beside_shard_locks_pays_only_what_the_diff_announced(project, capsys, server):
    out = sharded(capsys, server)
    assert not (out / LOCK_NAME).exists()
    assert planned(capsys) == 0
    assert run(capsys, server) == 0
