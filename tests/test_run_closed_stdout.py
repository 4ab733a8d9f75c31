"""`backdrop run RECIPE | head -4`: a reader that goes away never changes the run or its files."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.clihelp import backdrop_in

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
REPO = Path(__file__).resolve().parents[1]


def test_a_pipe_closed_early_leaves_every_job_done(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "campaign")
    recipe = tmp_path / "campaign" / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("size: 1536x1024", "size: 1024x1024"))
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", str(recipe), "--emulate", "-y", "--limit", "8"],
        cwd=REPO,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:  # what `head -4` does: four lines, then gone
        lines = [reader.readline() for _ in range(4)]
    assert lines[-1].startswith(b"[1/8] ok"), lines
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err
    assert "BrokenPipe" not in err and "internal error" not in err, err
    out = tmp_path / "campaign" / "out" / "spring-campaign"
    conn = sqlite3.connect(out / ".backdrop" / "state.db")
    try:
        counts = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
    finally:
        conn.close()
    assert counts == {"done": 8, "pending": 22}
    verify = backdrop_in(REPO, "verify", str(out))  # the files, not the pipe: in this process
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_hung_up_terminal_goes_quiet_too() -> None:
    import errno
    import io

    from runner.commands.streams import PipeSafeStream

    class HungUp(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.EIO, "Input/output error")  # a closed SSH session's terminal

    stream = PipeSafeStream(HungUp())
    assert stream.write("[1/8] ok\n") == len("[1/8] ok\n")
    assert stream.reader_gone
    stream.write("more\n")
    stream.flush()


def test_a_run_with_stdout_closed_before_the_start_does_every_job(tmp_path: Path) -> None:
    """`backdrop run ... >&-`: Python starts with sys.stdout None; nobody reads it, so the run
    goes on as for a closed pipe (it stopped with an internal error before a job was sent)."""
    shutil.copytree(EXAMPLE, tmp_path / "campaign")
    recipe = tmp_path / "campaign" / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("size: 1536x1024", "size: 1024x1024"))
    # As Python starts after `>&-`: descriptor 1 closed, sys.stdout None. One child runs both
    # commands, each as it starts (sys.stdout None again: backdrop restores what it found), and
    # says their exit codes on stderr's last line.
    closed = """
import json, os, sys
os.close(1)
sys.stdout = None
from runner.cli import main
codes = []
for command in json.loads(sys.argv[1]):
    assert sys.stdout is None
    try:
        main(command)
    except SystemExit as done:
        codes.append(done.code)
print(json.dumps(codes), file=sys.stderr)
"""
    commands = [["plan", str(recipe)], ["run", str(recipe), "--emulate", "-y", "--limit", "3"]]
    result = subprocess.run(
        [sys.executable, "-c", closed, json.dumps(commands)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stderr.splitlines()[-1]) == [0, 0], result.stderr
    assert "internal error" not in result.stderr
    out = tmp_path / "campaign" / "out" / "spring-campaign"
    conn = sqlite3.connect(out / ".backdrop" / "state.db")
    try:
        counts = dict(conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
    finally:
        conn.close()
    assert counts["done"] == 3


def test_the_money_guard_with_stdin_closed_refuses_without_a_traceback(tmp_path: Path) -> None:
    """`backdrop run ... <&-` (sys.stdin None) has no terminal to ask "Spend it?" in: the
    usage error, not an internal error; nothing is sent (no API listens on port 9)."""
    shutil.copytree(EXAMPLE, tmp_path / "campaign")
    recipe = tmp_path / "campaign" / "spring-campaign.yaml"
    closed = "import os, sys; os.close(0); sys.stdin = None; from runner.cli import main; main()"
    api = "http://127.0.0.1:9"
    urls = ["--api-url", api, "--asset-url", f"{api}/asset"]
    result = subprocess.run(
        [sys.executable, "-c", closed, "run", str(recipe), "--confirm-over", "0", *urls],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ONEMIN_API_KEY": "test-key-not-real"},
    )
    assert result.returncode == 2, result.stderr
    assert "above --confirm-over $0.00, and there is no terminal to ask in" in result.stderr
    assert "internal error" not in result.stderr
    assert not (tmp_path / "campaign" / "out").exists()
