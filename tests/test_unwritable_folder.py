"""An output folder that loses write permission mid-run stops the run (exit 3) instead of paying
for every remaining job and failing each one with "Operation not permitted"; the next run, once
the folder is writable again, downloads what was paid and pays for nothing twice.

Tests run as root here, and root ignores permission bits. Two real mechanisms still refuse it:
an immutable folder (`chattr +i`: EPERM, even for root), and a child process without the
capability that lets root override permission bits (`setpriv`: EACCES on a `chmod 555`
folder). Each test is skipped, saying why, where its mechanism is not available.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.ledger import Ledger
from runner.emulator.server import EmulatorServer
from runner.records.state_folder import STATE_DIR
from tests.clihelp import backdrop_in
from tests.runhelp import fast_options, make_plan, run

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
REPO = Path(__file__).resolve().parents[1]
KEY = "sk-TEST-unwritable-5d2e"
PAID_BEFORE_THE_CHANGE = 2  # the folder changes as the second generation is charged
RECIPE = """\
version: 1
name: perm
defaults: {size: 1024x1024, quality: low, output_format: png}
matrix:
  season: [a, b, c, d, e, f, g, h]
image: images/mug.png
prompt: "a mug in season {{ season }}"
output: "{{ season }}/mug"
"""
JOBS = 8


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(cache_results=True)) as running:
        yield running


def on_charge(server: EmulatorServer, number: int, action: Callable[[], None]) -> None:
    """Run `action` as the emulator charges its `number`-th generation (before it answers)."""
    ledger: Ledger = server.api.ledger
    charge = ledger.charge

    def charging(**kwargs: object) -> object:
        entry = charge(**kwargs)  # type: ignore[arg-type]
        if len(ledger.entries) == number:
            action()
        return entry

    ledger.charge = charging  # type: ignore[method-assign]


def image_folders(out: Path) -> list[Path]:
    """The output folder and every folder in it but backdrop's own (.backdrop stays writable)."""
    return [out, *(p for p in out.iterdir() if p.is_dir() and p.name != STATE_DIR)]


def chattr(flag: str, folders: list[Path]) -> None:
    subprocess.run(["chattr", flag, *map(str, folders)], check=True, capture_output=True)


@contextlib.contextmanager
def immutable_folders_allowed(probe: Path) -> Iterator[None]:
    if shutil.which("chattr") is None:
        pytest.skip("no chattr command here: cannot make a folder immutable")
    probe.mkdir()
    done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this file system refuses chattr +i: {done.stderr.strip()}")
    chattr("-i", [probe])
    yield


def test_an_immutable_output_folder_stops_the_run_and_the_next_run_downloads(tmp_path) -> None:
    """EPERM: `chattr +i` on the output folder and its image folders after two jobs are paid."""
    with immutable_folders_allowed(tmp_path / "probe"):
        plan = make_plan(tmp_path, products=("MUG", "CAP"), seasons=("s1", "s2", "s3", "s4"))
        with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
            frozen: list[Path] = []

            def freeze() -> None:
                frozen.extend(image_folders(plan.output_dir))
                chattr("+i", frozen)

            on_charge(server, PAID_BEFORE_THE_CHANGE, freeze)
            try:
                result = run(plan, server, fast_options(concurrency=1))
            finally:
                chattr("-i", frozen)
            paid = len(server.api.ledger.entries)
            assert paid == PAID_BEFORE_THE_CHANGE  # was: all 8, six of them failing one by one
            assert result.fatal is not None and "no permission to write" in result.fatal
            assert result.failed == 0 and result.done == 1
            assert result.interrupted == len(plan.jobs) - 1

            again = run(plan, server, fast_options(concurrency=1))
        assert again.ok and again.done == len(plan.jobs) - 1
        # The second job's paid answer was downloaded, not bought again.
        assert len(server.api.ledger.entries) == len(plan.jobs)


def setpriv_without_dac_override() -> list[str]:
    """A command prefix that runs a child as root without overriding permission bits (none
    needed for another user: permission bits apply to it)."""
    if not hasattr(os, "geteuid"):
        pytest.skip("POSIX permission bits only")
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("no setpriv command here: root cannot be made to honour permission bits")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.strip()}")
    return prefix


def cli_child(
    prefix: list[str], server: EmulatorServer, recipe: Path, out: Path
) -> subprocess.CompletedProcess[str]:
    urls = ["--api-url", server.base_url, "--asset-url", server.asset_base_url]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "runner", "run", str(recipe), "-y", "-j", "1",
         "--rpm", "60000", "-o", str(out), *urls],
        cwd=REPO,
        env={**os.environ, "ONEMIN_API_KEY": KEY, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", tmp_path / "images" / "mug.png")
    path = tmp_path / "perm.yaml"
    path.write_text(RECIPE)
    return path


def test_a_folder_whose_permission_is_taken_away_mid_run_stops_it_with_exit_3(
    tmp_path, recipe, server
) -> None:
    """EACCES: `chmod 555` on the folders after two jobs are paid, for a run that honours it."""
    prefix = setpriv_without_dac_override()
    out = tmp_path / "out"
    changed: list[Path] = []

    def take_write_permission() -> None:
        changed.extend(image_folders(out))
        for folder in changed:
            folder.chmod(0o555)

    on_charge(server, PAID_BEFORE_THE_CHANGE, take_write_permission)
    try:
        stopped = cli_child(prefix, server, recipe, out)
    finally:
        for folder in changed:
            folder.chmod(0o755)
    assert stopped.returncode == 3, stopped.stderr
    assert f"no permission to write b/mug.png in {out}" in stopped.stderr
    assert "Permission denied" not in stopped.stderr.replace("no permission", "")
    assert len(server.api.ledger.entries) == PAID_BEFORE_THE_CHANGE  # was: all 8

    # The next run is about what the stopped one left, not about permissions: in this process.
    urls = ["--api-url", server.base_url, "--asset-url", server.asset_base_url]
    again = backdrop_in(
        REPO, "run", str(recipe), "-y", "-j", "1", "--rpm", "60000", "-o", str(out), *urls,
        env={"ONEMIN_API_KEY": KEY, "NO_COLOR": "1"},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(server.api.ledger.entries) == JOBS  # the paid one downloaded, not bought again
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/mug.png")) == [
        f"{season}/mug.png" for season in "abcdefgh"
    ]


def test_a_folder_not_writable_from_the_start_is_refused_before_anything_is_paid(
    tmp_path, recipe, server
) -> None:
    prefix = setpriv_without_dac_override()
    out = tmp_path / "out"
    (out / STATE_DIR).mkdir(parents=True)  # an earlier run's state, still writable
    out.chmod(0o555)
    try:
        refused = cli_child(prefix, server, recipe, out)
    finally:
        out.chmod(0o755)
    assert refused.returncode == 3, refused.stderr
    assert f"no permission to write {out}" in refused.stderr
    assert server.api.ledger.entries == []


@pytest.mark.parametrize("errno_name", ["EACCES", "EPERM"])
def test_an_injected_permission_error_on_the_output_folder_stops_the_run(
    errno_name, tmp_path, server, monkeypatch
) -> None:
    """Where neither mechanism exists: the errno injected where temporary files are made."""
    import errno

    from runner.execute import result_files

    plan = make_plan(tmp_path, products=("MUG",), seasons=("s1", "s2", "s3", "s4"))
    real = result_files.temp_beside
    made: list[Path] = []

    def refusing(target: Path, suffix: str) -> tuple[int, Path]:
        if made:  # the first download goes through, then the folder is refused
            code = getattr(errno, errno_name)
            raise OSError(code, os.strerror(code), str(target.parent))
        made.append(target)
        return real(target, suffix)

    monkeypatch.setattr(result_files, "temp_beside", refusing)
    result = run(plan, server, fast_options(concurrency=1))
    assert len(server.api.ledger.entries) == 2  # was: 4, three of them failing
    assert result.fatal is not None and result.fatal.startswith("no permission to write s2/")
    assert result.fatal_hint is not None and "downloaded, not generated again" in result.fatal_hint
    monkeypatch.setattr(result_files, "temp_beside", real)
    assert run(plan, server).ok
    assert len(server.api.ledger.entries) == 4
