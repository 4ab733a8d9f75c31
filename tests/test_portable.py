"""Backdrop where POSIX is not: a whole campaign, Ctrl-C and the folder lock, in children that
run backdrop with what Windows lacks taken away (tests/posixless.py says exactly what is taken
and what cannot be). On Windows itself the whole suite runs instead (.github/workflows/ci.yml).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.diagnostics import StateError
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.folder_guard import FolderGuard
from runner.fileio import write_atomic
from runner.review.review_app import TOKEN_HEADER
from tests import approvalhelp
from tests.platforms import WINDOWS
from tests.posixless import BLOCKED_MODULES, command, commands, probe

# Takes POSIX away on POSIX; on Windows it is truly absent, and the rest of the suite runs there.
restricted = pytest.mark.skipif(WINDOWS, reason="emulates Windows; this is Windows")

PROBE = (
    f"BLOCKED = {BLOCKED_MODULES!r}"
    + """
import asyncio, json, os, signal
taken = {}
def attempt(name, action):
    try:
        action()
    except Exception as exc:
        taken[name] = type(exc).__name__
for module in BLOCKED:
    attempt(module, lambda: exec("import " + module, globals()))
for name in ("getuid", "statvfs", "mkfifo", "pread", "pwrite", "fchmod", "posix_fallocate",
             "killpg", "O_NOFOLLOW", "O_NONBLOCK", "O_DIRECTORY"):
    attempt("os." + name, lambda: getattr(os, name))
for name in ("SIGHUP", "SIGKILL", "SIGALRM", "setitimer"):
    attempt("signal." + name, lambda: getattr(signal, name))
attempt("os.open(folder)", lambda: os.open(".", os.O_RDONLY))
attempt("add_signal_handler", lambda: asyncio.new_event_loop().add_signal_handler(2, print))
attempt("open() without encoding", lambda: open(os.devnull))
attempt("os.getpid", os.getpid)
attempt("signal.SIGINT", lambda: signal.SIGINT)
print(json.dumps(taken))
"""
)


def backdrop(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=120
    )


def backdrops(cwd: Path, *argvs: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Several commands in one restricted child, one after the other (each child costs its
    start-up and its imports again): what each returned and printed."""
    done = subprocess.run(
        commands(*argvs), cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [
        subprocess.CompletedProcess(["backdrop", *args], code, out, err)
        for args, (code, out, err) in zip(argvs, json.loads(done.stdout), strict=True)
    ]


@restricted
def test_the_children_lack_what_windows_lacks(tmp_path: Path) -> None:
    done = subprocess.run(probe(PROBE), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        **dict.fromkeys(BLOCKED_MODULES, "ModuleNotFoundError"),
        **dict.fromkeys(
            [f"os.{name}" for name in ("getuid", "statvfs", "mkfifo", "pread", "pwrite")],
            "AttributeError",
        ),
        **dict.fromkeys(
            [f"os.{name}" for name in ("fchmod", "posix_fallocate", "killpg")], "AttributeError"
        ),
        **dict.fromkeys(
            [f"os.{name}" for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_DIRECTORY")],
            "AttributeError",
        ),
        **dict.fromkeys(
            [f"signal.{name}" for name in ("SIGHUP", "SIGKILL", "SIGALRM", "setitimer")],
            "AttributeError",
        ),
        "os.open(folder)": "PermissionError",
        "add_signal_handler": "NotImplementedError",
        "open() without encoding": "EncodingWarning",
    }  # and what Windows has (os.getpid, SIGINT) is still there


@restricted
def test_a_campaign_from_validate_to_export(tmp_path: Path) -> None:
    recipe = approvalhelp.write_campaign(tmp_path)
    # The story channel small: it still letterboxes (fit: contain) in one band; the instagram
    # channel keeps its 1080x1350 cover crop written in bands. 0.3 s of CPU less.
    recipe.write_text(approvalhelp.RECIPE.replace("1080x1920", "270x480"), encoding="utf-8")
    out = tmp_path / "out" / "binding"

    validate, plan, run = backdrops(
        tmp_path,
        ["validate", recipe.name],
        ["plan", recipe.name],
        ["run", recipe.name, "--emulate", "-y"],
    )
    assert (validate.returncode, validate.stdout) == (0, "recipe.yaml: ok (4 jobs, 8 images)\n")
    assert plan.returncode == 0, plan.stderr
    assert "Estimated cost:" in plan.stdout
    assert run.returncode == 0, run.stderr
    assert "Finished: 4 done, 0 up to date, 0 failed; 8 images written" in run.stdout
    assert "Traceback" not in run.stderr

    approve_in_review_child(tmp_path, out)  # review.yaml, written under the review lock
    decisions = (out / "review.yaml").read_text(encoding="utf-8")
    assert decisions.count("status: approved") == 4

    to = tmp_path / "delivery"
    report, verify, export = backdrops(
        tmp_path, ["report", str(out)], ["verify", str(out)], ["export", str(out), "--to", str(to)]
    )
    assert report.returncode == 0, report.stderr
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["jobs"]
    assert (verify.returncode, verify.stdout) == (0, "ok: every file matches backdrop.lock\n")
    assert export.returncode == 0, export.stderr
    manifest = (to / "manifest.csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(manifest)))
    assert sorted(row["file"] for row in rows) == sorted(
        f"{channel}/{key}.png" for channel in ("instagram", "story") for key in approvalhelp.KEYS
    )
    for row in rows:
        assert row["sha256"] == hashlib.sha256((to / row["file"]).read_bytes()).hexdigest()


def approve_in_review_child(cwd: Path, out: Path) -> None:
    """`backdrop review` in a restricted child; each job approved over its HTTP API."""
    images = approvalhelp.shown_images(out)
    review = subprocess.Popen(
        command("review", str(out), "--no-browser", "--port", "0"),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert review.stdout is not None
        opened = [review.stdout.readline() for _ in range(2)][-1]
        assert opened.startswith("Open http://127.0.0.1:"), opened + review.stderr.read()
        base, _, token = opened.split()[1].partition("/?token=")
        headers = {"Origin": base, TOKEN_HEADER: token}
        for key in approvalhelp.KEYS:
            body = {"job": key, "action": "approve", "pick": 1, "images": images[key]}
            answer = httpx.post(f"{base}/api/decision", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
        review.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = review.communicate(timeout=30)
        assert "Traceback" not in err
    finally:
        if review.poll() is None:
            review.kill()
            review.communicate()


@restricted
def test_a_second_run_on_a_folder_in_use_is_refused(tmp_path: Path) -> None:
    recipe = approvalhelp.write_campaign(tmp_path)
    out = tmp_path / "out" / "binding"
    with FolderGuard(out):  # this process is the run using the folder
        second = backdrop(tmp_path, "run", recipe.name, "--emulate", "-y")
    assert second.returncode == 3
    assert f"error: another backdrop run is using {out} (pid {os.getpid()})" in second.stderr
    assert "Traceback" not in second.stderr


SEASONS = "abcdefghijkl"  # 12 jobs, 8 at a time
SIGNALS_RECIPE = f"""\
version: 1
name: signals
defaults: {{size: 1024x1024, quality: low, output_format: png}}
matrix:
  season: [{", ".join(SEASONS)}]
image: images/mug.png
prompt: "a mug in season {{{{ season }}}}"
output: "{{{{ season }}}}"
"""
KEY = "sk-TEST-portable-5c1e"


@pytest.fixture
def slow_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY, latency=1.0, cache_results=True)) as running:
        yield running


@restricted
def test_ctrl_c_drains_the_generations_in_flight(
    tmp_path: Path, slow_server: EmulatorServer
) -> None:
    approvalhelp.write_campaign(tmp_path)  # its images
    (tmp_path / "signals.yaml").write_text(SIGNALS_RECIPE, encoding="utf-8")
    urls = ["--api-url", slow_server.base_url, "--asset-url", slow_server.asset_base_url]
    args = ["run", "signals.yaml", "-y", "-j", "8", "--rpm", "6000", *urls]
    env = {**os.environ, "ONEMIN_API_KEY": KEY}
    proc = subprocess.Popen(
        command(*args), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while slow_server.api.stats.in_flight < 8:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the generations never got in flight"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends, on Windows too
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Interrupted by SIGINT" in err
    assert "Traceback" not in err
    assert len(slow_server.api.ledger.entries) == 8  # nothing paid for is left behind
    state = sqlite3.connect(tmp_path / "out" / "signals" / ".backdrop" / "state.db")
    try:
        rows = state.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
    finally:
        state.close()
    assert dict(rows) == {"done": 8, "pending": 4}  # the 8 in flight drained, no job started


class SharingViolation(PermissionError):
    winerror = 32  # as Windows sets it when another program holds the file open


@pytest.mark.parametrize("error", [SharingViolation, PermissionError])
def test_a_report_held_open_by_another_program_says_to_close_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[PermissionError]
) -> None:
    def replace(source: object, target: object) -> None:
        raise error(errno.EACCES, "Permission denied", str(target))

    monkeypatch.setattr(os, "replace", replace)  # Windows cannot replace a file Excel shows
    with pytest.raises(StateError) as err:
        write_atomic(tmp_path / "results.csv", b"job,status\n")
    assert err.value.message == f"no permission to write results.csv in {tmp_path}"
    close = "close it in any program that has it open (Excel, a viewer), or "
    writable = "make the folder writable for you, or choose a writable output folder with -o"
    assert err.value.hint == (close if error is SharingViolation else "") + writable
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too
