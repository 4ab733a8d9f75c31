"""`backdrop run`, `report`, `verify` end to end: the real CLI against the emulator on loopback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from runner.cli import main
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.fileio import PART_SUFFIX
from tests.clihelp import CliResult, backdrop_in, run_cli
from tests.junit_support import assert_counts_match_results, assert_valid

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
KEY = "sk-TEST-7f3a9c1e5b2d4f6a8c0e"  # distinctive, so that any leak is found


# Pacing is tested with a fake clock elsewhere; end to end it would only make the tests wait.
FAST = ("--rpm", "60000")


def _make_campaign(folder: Path) -> Path:
    shutil.copytree(EXAMPLE, folder)
    recipe = folder / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("size: 1536x1024", "size: 1024x1024"))
    return folder


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example recipe at a small size, so that the emulator composites quickly."""
    monkeypatch.chdir(tmp_path)
    return _make_campaign(tmp_path / "campaign")


@dataclass(frozen=True)
class FinishedRun:
    root: Path  # holds campaign/ with the recipe and its out/ folder
    first: CliResult  # what the first, complete emulated run printed


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """One complete emulated run of the campaign, shared by the tests of this module: compositing
    30 images is the expensive part, and each test gets its own copy (see `finished`)."""
    root = tmp_path_factory.mktemp("finished")
    _make_campaign(root / "campaign")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        out, err = io.StringIO(), io.StringIO()
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exc,
        ):
            main(["run", "campaign/spring-campaign.yaml", "--emulate", "--yes", *FAST])
    code = exc.value.code if isinstance(exc.value.code, int) else 1
    return FinishedRun(root, CliResult(code, out.getvalue(), err.getvalue()))


@pytest.fixture
def finished(finished_run: FinishedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own copy of the finished run (the emulator's records travel with it)."""
    assert finished_run.first.code == 0, finished_run.first.err
    folder = tmp_path / "campaign"
    shutil.copytree(finished_run.root / "campaign", folder)
    monkeypatch.chdir(tmp_path)
    return folder


def outputs_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.webp") if ".backdrop" not in p.parts)


def state_rows(out: Path) -> dict[str, tuple[str, str | None]]:
    conn = sqlite3.connect(out / ".backdrop" / "state.db")
    try:
        rows = conn.execute("SELECT key, status, record_uuid FROM jobs").fetchall()
    except sqlite3.OperationalError as exc:  # polled while the run is still creating its tables
        if "no such table" not in str(exc):
            raise
        rows = []
    finally:
        conn.close()
    return {key: (status, uuid) for key, status, uuid in rows}


def test_emulated_run_writes_images_reports_and_then_skips_everything(
    finished_run, finished, capsys
):
    result = finished_run.first
    assert result.code == 0, result.err
    out = finished / "out" / "spring-campaign"
    images = outputs_of(out)
    assert len(images) == 30
    with Image.open(out / "fr-FR" / "MUG-01-spring.webp") as im:
        assert (im.format, im.size) == ("WEBP", (1024, 1024))
    for name in ("report.html", "results.json", "results.csv", "junit.xml", "backdrop.lock"):
        assert (out / name).is_file(), name
    assert "Finished: 30 done, 0 up to date, 0 failed; 30 images written" in result.out
    assert "Report: campaign/out/spring-campaign/report.html" in result.out

    lock = (out / "backdrop.lock").read_bytes()
    again = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "--emulate", "--yes", *FAST)
    assert again.code == 0, again.err
    assert "Finished: 0 done, 30 up to date, 0 failed" in again.out
    assert (out / "backdrop.lock").read_bytes() == lock  # git diff stays clean


def test_money_guard_refuses_without_a_terminal_and_spends_nothing(campaign, capsys, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    result = run_cli(
        capsys,
        "run",
        "campaign/spring-campaign.yaml",
        "--price",
        "medium=1",
        "--api-url",
        "http://127.0.0.1:9",  # nothing listens: reaching it would fail loudly
    )
    assert result.code == 2
    # 26 medium jobs at the overridden $1, 4 high square ones at the list $0.167.
    assert "Estimated cost: $26.67" in result.out
    assert "this run is estimated at $26.67, above --confirm-over $5.00" in result.err
    assert "add --yes to proceed" in result.err
    assert not (campaign / "out").exists()
    assert KEY not in result.out + result.err


def test_run_without_a_key_says_where_the_key_comes_from(campaign, capsys):
    result = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "--yes")
    assert result.code == 2
    assert "no API key: set the ONEMIN_API_KEY environment variable" in result.err
    assert "Traceback" not in result.err


def test_refused_key_stops_the_run_with_one_clear_message(campaign, capsys, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    with EmulatorServer(EmulatorConfig(reject_key=True)) as server:
        result = run_cli(
            capsys,
            "run",
            "campaign/spring-campaign.yaml",
            "--yes",
            "--api-url",
            server.base_url,
            "--asset-url",
            server.asset_base_url,
        )
        charged = len(server.api.ledger.entries)
    assert result.code == 3
    assert charged == 0
    assert result.err.count("key was refused") == 1, result.err
    assert "Traceback" not in result.err
    assert KEY not in result.out + result.err


def test_key_never_reaches_output_or_files_even_with_faults(campaign, capsys, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    config = EmulatorConfig(api_key=KEY, error_rate=0.2, drop_rate=0.05, seed=7, cache_results=True)
    with EmulatorServer(config) as server:
        result = run_cli(
            capsys,
            "run",
            "campaign/spring-campaign.yaml",
            "--yes",
            "--limit",
            "8",
            "--max-attempts",
            "8",
            *FAST,
            "--api-url",
            server.base_url,
            "--asset-url",
            server.asset_base_url,
        )
        ledger = server.api.ledger.entries
    assert result.code == 0, result.err
    assert len(ledger) == 8  # every job charged exactly once despite the faults
    assert KEY not in result.out + result.err
    out = campaign / "out" / "spring-campaign"
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_verify_and_prune_find_missing_changed_and_stale_files(campaign, capsys, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    with EmulatorServer(EmulatorConfig(api_key=KEY, cache_results=True)) as server:
        urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url, *FAST)
        first = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "-y", *urls)
        assert first.code == 0, first.err
        out = campaign / "out" / "spring-campaign"
        assert run_cli(capsys, "verify", str(out)).code == 0

        (out / "fr-FR" / "MUG-01-spring.webp").unlink()
        (out / "de-DE" / "MUG-01-spring.webp").write_bytes(b"not the image")
        shutil.copy(out / "en-US" / "MUG-01-spring.webp", out / "en-US" / "old-banner.webp")
        result = run_cli(capsys, "verify", str(out))
        assert result.code == 1
        assert "missing  fr-FR/MUG-01-spring.webp" in result.out
        assert "changed  de-DE/MUG-01-spring.webp" in result.out
        assert "stale    en-US/old-banner.webp" in result.out

        repaired = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "-y", "--prune", *urls)
        charged = len(server.api.ledger.entries)
    assert repaired.code == 0, repaired.err
    # Paid-for results are downloaded again, never generated again.
    assert "0 jobs to generate (0 images), 2 paid earlier, only downloads left" in repaired.out
    assert charged == 30
    # A copy the user made is not backdrop's to delete: verify names it, prune keeps it.
    # The changed file is kept too, beside the fresh download.
    assert (out / "en-US" / "old-banner.webp").is_file()
    assert (out / "de-DE" / "MUG-01-spring.edited.webp").read_bytes() == b"not the image"
    assert run_cli(capsys, "verify", str(out)).code == 1
    (out / "en-US" / "old-banner.webp").unlink()
    (out / "de-DE" / "MUG-01-spring.edited.webp").unlink()
    assert run_cli(capsys, "verify", str(out)).code == 0


def test_shards_merge_into_one_report(campaign, capsys, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    # Cached result bytes: compositing is covered elsewhere; sharding and merging are tested here.
    with EmulatorServer(EmulatorConfig(api_key=KEY, cache_results=True)) as server:
        for k in (1, 2):
            result = run_cli(
                capsys,
                "run",
                "campaign/spring-campaign.yaml",
                "-y",
                "--shard",
                f"{k}/2",
                "--output-dir",
                f"shard{k}",
                "--api-url",
                server.base_url,
                "--asset-url",
                server.asset_base_url,
                *FAST,
            )
            assert result.code == 0, result.err
    one = json.loads((Path("shard1") / "results.json").read_text())
    assert 0 < one["totals"]["done"] < 30
    lock = (Path("shard1") / "backdrop.lock").read_bytes()
    merged = run_cli(capsys, "report", "--merge", "shard1", "shard2")
    assert merged.code == 0, merged.err
    report = json.loads((Path("shard1") / "results.json").read_text())
    assert report["totals"]["done"] == 30
    assert_valid(Path("shard1") / "junit.xml")
    assert_counts_match_results(Path("shard1") / "junit.xml", Path("shard1") / "results.json")
    # Each folder's lock stays the manifest of its own files, so each still verifies.
    assert (Path("shard1") / "backdrop.lock").read_bytes() == lock
    assert run_cli(capsys, "verify", "shard1").code == 0


@pytest.mark.parametrize(
    "command", [("report",), ("export", "--to", "delivery"), ("review", "--no-browser")]
)
def test_reading_a_folder_without_a_run_is_a_usage_error(tmp_path, capsys, command):
    result = run_cli(capsys, command[0], str(tmp_path / "out"), *command[1:])
    assert result.code == 2, result.err  # exit 3 means a run that stopped
    assert "no run has written to" in result.err
    assert "backdrop run RECIPE" in result.err


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_loses_nothing_paid_for(campaign, tmp_path):
    """kill -9 in the middle; the next run completes without paying again for recorded work."""
    out = campaign / "out" / "spring-campaign"
    config = EmulatorConfig(api_key=KEY, latency=(0.05, 0.4), seed=3, cache_results=True)
    env = {**os.environ, "ONEMIN_API_KEY": KEY}
    with EmulatorServer(config) as server:
        args = [
            sys.executable, "-m", "runner", "run", "campaign/spring-campaign.yaml", "--yes",
            "--concurrency", "4", "--rpm", "600", "--api-url", server.base_url,
            "--asset-url", server.asset_base_url,
        ]  # fmt: skip
        child = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (out / ".backdrop" / "state.db").exists():
                with contextlib.suppress(sqlite3.OperationalError):  # tables not made yet
                    done = [s for s, _ in state_rows(out).values() if s == "done"]
                    if len(done) >= 6:
                        break
            time.sleep(0.05)
        child.kill()  # SIGKILL; TerminateProcess on Windows
        child.wait(timeout=30)

        before = state_rows(out)
        recorded = {key: uuid for key, (_, uuid) in before.items() if uuid}
        assert 6 <= len(recorded) < 30, "the kill should land mid-run"
        # Requests the killed run had sent are still charged when their latency ends, as the real
        # API would: count them with the first run, not the resume.
        settled = time.monotonic() + 30
        while server.api.stats.in_flight and time.monotonic() < settled:
            time.sleep(0.02)
        charged_at_kill = len(server.api.ledger.entries)

        # The resume is about what the kill left on disk, not a process: run in this one.
        resumed = backdrop_in(tmp_path, *args[3:], env={"ONEMIN_API_KEY": KEY})
        assert resumed.returncode == 0, resumed.stderr
        ledger = list(server.api.ledger.entries)

    after = state_rows(out)
    assert all(status == "done" for status, _ in after.values())
    for key, uuid in recorded.items():
        assert after[key][1] == uuid, "a recorded generation was paid for again"
    # Only the jobs without a recorded answer were generated by the second run.
    assert len(ledger) - charged_at_kill == 30 - len(recorded)
    images = outputs_of(out)
    assert len(images) == 30
    for path in images:
        with Image.open(path) as im:
            im.load()
            assert im.size == (1024, 1024)
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(f"*{PART_SUFFIX}"))
    assert KEY not in resumed.stdout + resumed.stderr


def test_emulated_rerun_downloads_a_deleted_image_again_without_paying(finished, capsys):
    out = finished / "out" / "spring-campaign"
    image = out / "ja-JP" / "TOTE-02-autumn.webp"
    original = image.read_bytes()
    image.unlink()
    again = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "--emulate", "-y", *FAST)
    assert again.code == 0, again.err
    assert "0 jobs to generate (0 images), 1 paid earlier, only downloads left" in again.out
    assert image.read_bytes() == original


def test_a_nan_price_cannot_switch_the_money_guard_off(campaign, capsys, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    result = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "--price", "medium=nan")
    assert result.code == 2
    assert "--price 'medium=nan': 'nan' is not a price in USD" in result.err


@pytest.mark.parametrize("url", ["ftp://example.org", "http://[::1", "api.1min.ai"])
def test_a_bad_api_url_is_a_usage_error(campaign, capsys, monkeypatch, url):
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    result = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "-y", "--api-url", url)
    assert result.code == 2, result.err
    assert f"--api-url {url!r} is not an http(s) URL" in result.err
    assert not (campaign / "out").exists()


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://api.1min.ai", True),
        ("http://10.0.0.7:8080/v1", True),
        ("https://api.1min.ai", False),
        ("http://127.0.0.1:8765", False),
        ("http://[::1]:8765", False),
        ("http://localhost:8765", False),
    ],
)
def test_a_cleartext_api_url_beyond_loopback_is_warned_about(url, warned):
    from runner.commands.run_steps import cleartext_warning

    warning = cleartext_warning(url)
    assert (warning is not None) == warned
    if warning is not None:
        assert "your API key travels unencrypted" in warning


def test_emulated_run_still_shows_what_it_would_cost(campaign, capsys):
    result = run_cli(
        capsys, "run", "campaign/spring-campaign.yaml", "--emulate", "-y", "--limit", "1"
    )
    assert result.code == 0, result.err
    assert "nothing is spent. With 1min.ai: $0.17 (an estimate" in result.out


def test_results_in_another_format_are_converted_and_kept(campaign, capsys, monkeypatch):
    # An API that ignores output_format (always PNG): paid results are converted, not refused
    # after five identical downloads on every run.
    from runner.emulator import compositor

    encode = compositor.encode

    def always_png(image: Image.Image, _asked: str, level: int) -> bytes:
        return encode(image, "png", level)

    monkeypatch.setattr(compositor, "encode", always_png)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    config = EmulatorConfig(cache_results=True, render_cache=None)  # no WebP from other tests
    with EmulatorServer(config) as server:
        urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
        args = ("run", "campaign/spring-campaign.yaml", "--yes", "--limit", "2", *FAST, *urls)
        result = run_cli(capsys, *args)
        again = run_cli(capsys, *args)
        charged = len(server.api.ledger.entries)
    assert result.code == 0, result.err
    written = sorted((campaign / "out" / "spring-campaign").rglob("*.webp"))
    assert len(written) == 2
    for path in written:
        with Image.open(path) as image:
            assert image.format == "WEBP"
        relative = path.relative_to(campaign / "out" / "spring-campaign").as_posix()
        assert f"note: {relative}: the API sent PNG where WEBP was asked for" in result.err
    assert (again.code, charged) == (0, 2)  # the second run has nothing to do
    assert "note:" not in again.err
