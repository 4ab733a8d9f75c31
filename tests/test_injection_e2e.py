"""Values from a pull request cannot drive the GitHub Actions runner or the terminal, end to end.

Each path a value takes to the output is fed the payloads of tests/test_workflow_commands.py
through the real CLI with GITHUB_ACTIONS=true: a recipe value (an enum error, its source line),
CSV cells (plan's table, plan --diff in text, JSON and Markdown, run's progress lines), review.yaml
keys (an error, the orphan lines of verify and review), backdrop.lock paths, and an API error
message from the emulator. The port of the runner's parser (tests/actions_runner.py) must find
nothing in stdout or stderr but Backdrop's own annotations; no terminal escape arrives raw.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from tests.actions_runner import Command, commands_in
from tests.clihelp import CliResult, backdrop_in, run_cli
from tests.platforms import posix_only
from tests.test_workflow_commands import HOSTILE

pytestmark = pytest.mark.slow
IMAGES = Path(__file__).parent / "fixtures" / "example" / "images"
TITLE = "\x1b]0;TITLE\x07"  # sets the terminal's window title
VALUE = HOSTILE + TITLE + "\u202e"
REVIEW_FILE = "campaign/out/hostile/review.yaml"
LOCK_FILE = "campaign/out/hostile/backdrop.lock"
# A file name the lock's checks take (no control character below U+0020): line separators, the
# legacy `##[` form and Azure's `##vso[` that a file may be named with.
NAMED = (
    "x\u2028::error file=evil.py,line=1::INJECTED ##[warning]INJECTED \x85::error::NEL"
    " ##vso[task.setvariable variable=X]INJECTED\u202e"
)
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
RECIPE = """\
version: 1
name: hostile
defaults: {size: 1024x1024, quality: low, n: 1, output_format: png}
matrix:
  product:
    - {name: PRODUCT, sku: MUG, image: images/mug.png}
    - {name: tote, sku: TOTE, image: images/tote.png}
  market: {csv: data/markets.csv}
image: "{{ product.image }}"
prompt: "{{ product.name }} in {{ market.setting }}"
output: "{{ market.code }}/{{ product.sku }}"
"""


def write_campaign(folder: Path) -> Path:
    """Two products x three markets; the first product's name and every market's label and
    setting hostile (labels show a mapping by its first value: here, the hostile one)."""
    (folder / "data").mkdir(parents=True)
    shutil.copytree(IMAGES, folder / "images")
    with open(folder / "data" / "markets.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "code", "setting"])
        for code in ("fr-FR", "de-DE", "ja-JP"):
            writer.writerow([f"{code} {VALUE}", code, f"a terrace {VALUE}"])
    recipe = folder / "r.yaml"
    recipe.write_text(RECIPE.replace("PRODUCT", json.dumps("mug " + VALUE)), encoding="utf-8")
    return recipe


def own_only(result: CliResult | tuple[str, str]) -> list[Command]:
    """The commands in both streams: only Backdrop's own annotations, on the recipe files; and
    no control character from a value reached either stream raw."""
    out, err = (result.out, result.err) if isinstance(result, CliResult) else result
    found = commands_in(out, err)
    for command in found:
        assert command.name in ("error", "warning", "notice"), command.line
        assert (command.prop("title") or "").startswith("Backdrop: "), command.line
        assert command.prop("file") in (None, "campaign/r.yaml", REVIEW_FILE, LOCK_FILE), (
            command.line
        )
        assert command in commands_in(out), command.line  # annotations go to stdout only
    assert not RAW_CONTROL.search(out), out
    assert not RAW_CONTROL.search(err), err
    return found


@pytest.fixture
def ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh campaign in tmp_path/campaign, as seen from a GitHub Actions step."""
    write_campaign(tmp_path / "campaign")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    return tmp_path / "campaign"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The campaign after one emulated run: state, lock, images (shared; tests copy it)."""
    root = tmp_path_factory.mktemp("ran") / "campaign"
    recipe = write_campaign(root)
    # In this process (a child added nothing): outside GitHub Actions, as a clean child was.
    done = backdrop_in(root, "run", str(recipe), "--emulate", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture
def ci_ran(ran: Path, ci: Path) -> Path:
    shutil.rmtree(ci)
    shutil.copytree(ran, ci)
    return ci


def test_a_recipe_value_in_an_enum_error_and_its_source_line(ci, capsys):
    recipe = ci / "r.yaml"
    recipe.write_text(
        recipe.read_text().replace("quality: low", f"quality: {json.dumps(VALUE)}"),
        encoding="utf-8",
    )
    for command in ("validate", "plan"):
        result = run_cli(capsys, command, "campaign/r.yaml")
        assert result.code == 2
        assert "is not one of low, medium, high" in result.err
        assert "##\\x5bwarning]INJECTED" in result.err  # the source line, shown defanged
        (annotation,) = own_only(result)
        assert annotation.name == "error" and annotation.prop("file") == "campaign/r.yaml"
        assert annotation.prop("line") == "3"


def test_csv_values_in_every_plan_format(ci, capsys):
    for args in ((), ("--all",), ("--diff",), ("--diff", "--format", "markdown"), ("--json",)):
        result = run_cli(capsys, "plan", "campaign/r.yaml", *args)
        assert result.code == 0, result.err
        assert own_only(result) == [], args
        assert "fr-FR" in result.out
    document = run_cli(capsys, "plan", "campaign/r.yaml", "--diff", "--format", "json")
    assert own_only(document) == []
    labels = [job["label"] for job in json.loads(document.out)["jobs"]]
    assert f"market=fr-FR {VALUE}" in " ".join(labels)  # JSON keeps each value exactly
    summary = (ci.parent / "summary.md").read_text(encoding="utf-8")
    assert own_only((summary, "")) == []


def test_run_progress_and_failures_with_an_api_error_message(ci, capsys, monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", "sk-test-injection-1234")
    config = EmulatorConfig(error_rate=1.0, error_message=VALUE, seed=2)
    with EmulatorServer(config) as server:
        urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
        result = run_cli(capsys, "run", "campaign/r.yaml", "-y", "--max-attempts", "1", *urls)
    assert result.code == 1, result.err
    assert "FAIL product=mug x\\x0a::error file=evil.py" in result.out  # progress, one line
    assert "##\\x5bwarning]INJECTED" in result.err  # the API's message, in the failures
    found = own_only(result)
    assert [c.name for c in found] == ["error"] * 6  # one per failed job, on the recipe
    assert any("::error file=evil.py" in c.data for c in found)  # quoted in the annotation


def test_run_progress_of_jobs_that_succeed(ci, capsys):
    result = run_cli(capsys, "run", "campaign/r.yaml", "-y", "--emulate")
    assert result.code == 0, result.err
    assert result.out.count("] ok   product=") == 6
    assert own_only(result) == []


def test_review_keys_in_orphan_lines_and_in_an_error(ci_ran, capsys):
    out = ci_ran / "out" / "hostile"
    (out / "review.yaml").write_text(
        f"version: 1\njobs:\n  {json.dumps(VALUE)}: {{status: approved}}\n", encoding="utf-8"
    )
    verify = run_cli(capsys, "verify", "campaign/out/hostile")
    assert verify.code == 0, verify.err
    assert "  orphaned x\\x0a::error file=evil.py" in verify.err
    assert "\\x1b]0;TITLE\\x07" in verify.err and "\x1b" not in verify.err
    assert own_only(verify) == []

    (out / "review.yaml").write_text(
        f"version: 1\njobs:\n  {json.dumps('../' + VALUE)}: {{status: approved}}\n",
        encoding="utf-8",
    )
    broken = run_cli(capsys, "verify", "campaign/out/hostile")
    assert broken.code == 2
    assert "is not an output path inside this folder" in broken.err
    (annotation,) = own_only(broken)
    assert annotation.prop("file") == REVIEW_FILE and annotation.prop("line") == "3"


@posix_only("SIGINT to send to one child")
def test_the_review_command_prints_orphans_inert(ci_ran):
    out = ci_ran / "out" / "hostile"
    (out / "review.yaml").write_text(
        f"version: 1\njobs:\n  {json.dumps(VALUE)}: {{status: approved}}\n", encoding="utf-8"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "review", str(out), "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "GITHUB_ACTIONS": "true"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[1].startswith("Open http://127.0.0.1:"), lines
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "  orphaned x\\x0a::error file=evil.py" in err
    assert own_only(("".join(lines) + rest, err)) == []


def test_lock_paths_in_verify_and_plan_diff(ci_ran, capsys):
    """A lock path with a line break or a control character is refused at backdrop.lock:LINE:COL
    (its snippet inert too); one the lock's checks take, with line separators and `##[` forms
    backdrop cannot refuse (a file may be named so), is printed inert."""
    lock = ci_ran / "out" / "hostile" / "backdrop.lock"
    document = json.loads(lock.read_text(encoding="utf-8"))
    shutil.rmtree(ci_ran / "out" / "hostile" / ".backdrop")  # only the lock to compare with

    def with_path(path: str) -> None:
        hostile = {"path": path, "job": "j" * 64, "sha256": "0" * 64, "request": {}}
        lock.write_text(json.dumps({**document, "outputs": [*document["outputs"], hostile]}))

    with_path(f"fr-FR/{VALUE}.png")
    for args in (("verify", "campaign/out/hostile"), ("plan", "campaign/r.yaml", "--diff")):
        refused = run_cli(capsys, *args)
        assert refused.code == 2, refused.err
        (annotation,) = own_only(refused)
        assert annotation.prop("file") == LOCK_FILE and annotation.prop("line") == "1"
    with_path(f"fr-FR/{NAMED}.png")
    verify = run_cli(capsys, "verify", "campaign/out/hostile")
    assert verify.code == 1
    assert "missing  fr-FR/x\\u2028::error file=evil.py" in verify.out
    assert own_only(verify) == []
    for args in ((), ("--format", "markdown"), ("--format", "json")):
        diff = run_cli(capsys, "plan", "campaign/r.yaml", "--diff", *args)
        assert diff.code == 0, diff.err
        assert own_only(diff) == []
    summary = (ci_ran.parent / "summary.md").read_text(encoding="utf-8")
    assert "\\:\\:error file=evil.py" in summary
    assert own_only((summary, "")) == []


def test_an_option_value_in_clicks_own_message_is_guarded_too(ci, capsys):
    """click prints its usage errors itself, past terminal.py: the stream guard still holds."""
    result = run_cli(capsys, "plan", "campaign/r.yaml", "--format", VALUE)
    assert result.code == 2
    assert "Invalid value for '--format'" in result.err
    assert own_only(result) == []


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_the_live_display_in_a_terminal(ci: Path) -> None:
    """In a terminal, run shows rich's live display: its styles pass, values' escapes do not."""
    import pty

    config = EmulatorConfig(error_rate=1.0, error_message=VALUE, seed=2)
    controller, terminal = pty.openpty()
    with EmulatorServer(config) as server:
        urls = ["--api-url", server.base_url, "--asset-url", server.asset_base_url]
        env = {**os.environ, "ONEMIN_API_KEY": "sk-test-injection-1234", "TERM": "xterm"}
        env.pop("NO_COLOR", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "runner", "run", "campaign/r.yaml", "-y", "--max-attempts",
             "1", *urls],
            stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=ci.parent,
        )  # fmt: skip
        os.close(terminal)
        seen = b""
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            assert process.wait(timeout=30) == 1
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            os.close(controller)
    text = seen.decode("utf-8", "replace")
    assert "\x1b[" in text  # rich did draw (styles, cursor moves)
    assert "FAIL product=mug x\\x0a::error" in text  # rich wraps it: the guard sees new lines
    assert "\x1b]" not in text and "\x07" not in text and "\u202e" not in text
    found = commands_in(text)
    assert [c.name for c in found] == ["error"] * 6
    assert all((c.prop("title") or "").startswith("Backdrop: ") for c in found)
