"""A backdrop.lock is a file a pull request controls: whatever it holds, plan --diff, verify and
run say what is wrong at backdrop.lock:LINE:COL (exit 2), read it in bounded time and memory,
never open a pipe, hash each file once, and adopt only whole images."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.emulator.persist import StateFolder
from runner.execute import adopt
from runner.records import lockfile as manifest
from runner.records.lock_reader import MAX_LOCK_BYTES
from runner.records.state_folder import STATE_DIR
from tests.clihelp import CliResult, run_cli
from tests.deliverhelp import write_campaign

OUT = Path("campaign") / "out" / "deliver-test"
LOCK = OUT / "backdrop.lock"
RECIPE = "campaign/recipe.yaml"
FIRST = "de-DE/CAP-02.png"  # the lock's first output (line 6), sorted by path
SHOWN = f"{LOCK}:"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of a campaign run with --emulate: out/ has its lock and images."""
    root = tmp_path_factory.mktemp("made")
    (root / ".git").mkdir()
    write_campaign(root / "campaign")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        from runner.cli import main

        with pytest.raises(SystemExit) as done:
            main(["run", RECIPE, "--emulate", "-y"])
        assert done.value.code == 0
    shutil.rmtree(root / OUT / STATE_DIR)  # teams commit the lock and the images only
    return root


@pytest.fixture
def clone(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "clone"
    shutil.copytree(made, folder)
    monkeypatch.chdir(folder)
    return folder


def lock_text() -> str:
    return LOCK.read_text(encoding="utf-8")


def rewrite(old: str, new: str, count: int = 1) -> None:
    text = lock_text()
    assert old in text
    LOCK.write_text(text.replace(old, new, count), encoding="utf-8")


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    result = run_cli(capsys, *args)
    assert result.code == 2, (args, result.out, result.err)
    assert "internal error" not in result.err
    return result


CASES = {
    # name: (edit of the lock's text, "LINE:COL: error: message")
    "a NUL in a path": (
        (f'"path": "{FIRST}"', '"path": "de-DE/CAP\\u0000-02.png"'),
        "6:14: error: output 1: the path contains a NUL character (\\0)",
    ),
    "100,000 nested brackets": (
        ('"format": 2,', '"format": 2, "extra": ' + "[" * 100_000 + "]" * 100_000 + ","),
        "2:88: error: the file is nested more than 64 levels deep",
    ),
    "a 5,000-digit format": (
        ('"format": 2', '"format": ' + "9" * 5000),
        "2:13: error: this number has 5,000 digits, more than the 1,000 allowed",
    ),
    "a format that is a list": (
        ('"format": 2', '"format": [2]'),
        '2:13: error: "format" must be the number of the lock\'s format (2)',
    ),
    "a format from the future": (
        ('"format": 2', '"format": 3'),
        "2:13: error: this backdrop.lock is format 3; this backdrop reads format 2 (a newer"
        " backdrop may have written it)",
    ),
    "a format of NaN": (
        ('"format": 2', '"format": NaN'),
        "2:13: error: NaN is not a number JSON allows",
    ),
    "outputs that are a mapping": (
        ('"outputs": [\n', '"outputs": {"list": [\n'),
        '5:14: error: "outputs" must be a list of the output files',
    ),
    "a path that is a list": (
        (f'"path": "{FIRST}"', f'"path": ["{FIRST}"]'),
        '6:14: error: output 1: "path" must be the output\'s path in this folder (text)',
    ),
    "a sha256 that is a list": (
        ('", "sha256": "', '", "sha256": ["'),  # closed by the edit below
        '6:119: error: output 1: "sha256" must be 64 hexadecimal digits (a-f, 0-9)',
    ),
    "a lone surrogate in a path": (
        (f'"path": "{FIRST}"', '"path": "de-DE/\\ud800.png"'),
        "6:14: error: output 1: the path holds an invalid character (a lone surrogate)",
    ),
    "a 405-byte name": (
        (f'"path": "{FIRST}"', f'"path": "de-DE/{"n" * 401}.png"'),
        "6:14: error: output 1: a name in the path is longer than 255 bytes, which no disk takes",
    ),
    "a path out of the folder": (
        (f'"path": "{FIRST}"', '"path": "../../../etc/passwd"'),
        "6:14: error: output 1: the path ../../../etc/passwd is not a plain path inside the",
    ),
    "a path into .backdrop": (
        (f'"path": "{FIRST}"', '"path": ".backdrop/state.db"'),
        "6:14: error: output 1: the path .backdrop/state.db is inside backdrop's own .backdrop",
    ),
    "a line break in a text": (
        ('"outputs": [', '"outputs": [{"path": "x'),
        "5:26: error: this is not valid JSON: a text holds a control character (a line break",
    ),
    # The generations section (line 12 is the first one, sorted by id): what the budget counts.
    "a generation of 10^22 images": (
        ('"n": 1, "quality"', '"n": 10000000000000000000000, "quality"'),
        '12:166: error: generation 1: "n" must be the number of images asked for, 1 to 10',
    ),
    "a generation of a 5,000-digit n": (
        ('"n": 1, "quality"', '"n": ' + "9" * 5000 + ', "quality"'),
        "12:166: error: this number has 5,000 digits, more than the 1,000 allowed",
    ),
    "a generation's n nested 100,000 deep": (
        ('"n": 1, "quality"', '"n": ' + "[" * 100_000 + "]" * 100_000 + ', "quality"'),
        "12:227: error: the file is nested more than 64 levels deep",
    ),
    "a generation's quality that is a list": (
        ('"quality": "low", "size"', '"quality": ["low"], "size"'),
        '12:180: error: generation 1: "quality" must be one of low, medium, high',
    ),
    "a generation of an unknown size": (
        ('"size": "1024x1024"}', '"size": "99999x1"}'),
        '12:195: error: generation 1: "size" must be one of 1024x1024, 1024x1536, 1536x1024',
    ),
    "a generation's id with a lone surrogate": (
        ('{"id": "', '{"id": "\\ud800'),
        '12:12: error: generation 1: "id" must be the generation\'s id (text of 1 to 200',
    ),
    "generations that are a mapping": (
        ('"generations": [', '"generations": {"list": ['),
        '11:18: error: "generations" must be a list of the generations paid for (or left out)',
    ),
    "text cut short": (
        ("\n  ]\n}\n", '\n  ], "recipe": "deliver-test'),
        # The end of the generations section (after the 4 outputs, the 4 generations).
        "16:16: error: this is not valid JSON: this text has no closing '\"'",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_lock_is_told_at_its_line_and_column(clone, capsys, case):
    (old, new), where = CASES[case]
    rewrite(old, new)
    if case == "a sha256 that is a list":
        rewrite('", "request"', '"], "request"')
    if case == "outputs that are a mapping":
        rewrite("\n  ],\n", "\n  ]},\n")
    if case == "generations that are a mapping":
        rewrite("\n  ]\n}", "\n  ]}\n}")
    for args in (("plan", RECIPE, "--diff"), ("verify", str(OUT))):
        result = refused(capsys, *args)
        assert f"{SHOWN}{where}" in result.err, (args, result.err)
        assert "hint: restore it from git (git checkout -- " in result.err


def test_run_refuses_its_own_damaged_lock_as_plan_diff_does(clone, capsys):
    """A fresh clone has nothing but the lock to know what was paid for: a run that ignored a
    damaged one would pay again for every job."""
    rewrite(f'"path": "{FIRST}"', '"path": "de-DE/CAP\\u0000-02.png"')
    result = refused(capsys, "run", RECIPE, "--emulate", "-y")
    assert f"{SHOWN}6:14: error: output 1: the path contains a NUL character" in result.err
    assert not (OUT / STATE_DIR / "emulator").exists()  # nothing was sent


def test_the_same_path_twice_is_told_at_the_second(clone, capsys):
    data = json.loads(lock_text())
    data["outputs"].insert(1, dict(data["outputs"][0]))
    LOCK.write_text(json.dumps(data, indent=2))
    result = refused(capsys, "plan", RECIPE, "--diff")
    line = 1 + lock_text().splitlines().index('      "path": "de-DE/CAP-02.png",', 10)
    assert f"{SHOWN}{line}:15: error: output 2 lists {FIRST} again (output 1 did)" in result.err


def test_thousands_of_mistakes_are_the_first_50_and_a_count(clone, capsys):
    data = json.loads(lock_text())
    bad = {"job": "j", "sha256": "z", "request": {}}
    data["outputs"] = [{"path": f"x/{i}.png", **bad} for i in range(3000)]
    LOCK.write_text(json.dumps(data))  # one line of 160 KB
    result = refused(capsys, "verify", str(OUT))
    assert result.err.count(f"{SHOWN}1:") == 50
    assert f"{LOCK}: error: 2,950 more errors not shown" in result.err
    assert result.err.rstrip().endswith("3,000 errors")
    assert max(len(line) for line in result.err.splitlines()) < 400  # a window of the line


def test_a_3_gib_sparse_lock_is_refused_before_reading(clone, capsys):
    LOCK.unlink()
    with LOCK.open("wb") as handle:
        handle.truncate(3 * 1024**3)
    for args in (("plan", RECIPE, "--diff"), ("verify", str(OUT))):
        result = refused(capsys, *args)
        limit = f"{MAX_LOCK_BYTES / 2**20:.1f} MB"
        said = f"{LOCK}: error: the file is too large (3,072.0 MB; the limit is {limit})"
        assert said in result.err
        assert "run it in shards (run --shard K/N: each shard folder has its own lock)" in (
            result.err.replace("\n", " ")
        )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.timeout(60)
def test_a_pipe_is_never_opened(clone, capsys):
    """Opening a FIFO for reading blocks until a writer comes: forever, in CI."""
    (OUT / FIRST).unlink()
    os.mkfifo(OUT / FIRST)
    diff = run_cli(capsys, "plan", RECIPE, "--diff", "--format", "json")
    assert diff.code == 0, diff.err
    assert json.loads(diff.out)["totals"]["images_to_generate"] == 1
    verified = run_cli(capsys, "verify", str(OUT))
    assert verified.code == 1 and FIRST in verified.out + verified.err
    LOCK.unlink()
    os.mkfifo(LOCK)
    result = refused(capsys, "plan", RECIPE, "--diff")
    assert f"{LOCK}: error: the file is not a regular file" in result.err


def test_a_file_named_a_thousand_times_is_hashed_once(clone, capsys, monkeypatch):
    """Links (or entries) that lead to one big file: read once per command, not per name."""
    big = Path("campaign") / "big.png"  # in the repository, not an image of the folder
    shutil.copy(OUT / FIRST, big)
    with big.open("ab") as handle:
        handle.write(os.urandom(2 * 1024 * 1024))  # a PNG with trailing bytes: not adopted
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    data = json.loads(lock_text())
    for i in range(200):
        (OUT / f"link-{i:03d}.png").symlink_to(Path("../../big.png"))
        entry = {"job": "j" * 64, "sha256": digest, "request": {}}
        data["outputs"].append({"path": f"link-{i:03d}.png", **entry})
    LOCK.write_text(json.dumps(data, indent=2))
    reads: list[Path] = []
    inspect, hash_file = adopt._inspect, manifest.sha256_of
    monkeypatch.setattr(adopt, "_inspect", lambda path: reads.append(path) or inspect(path))
    monkeypatch.setattr(manifest, "sha256_of", lambda p: reads.append(p) or hash_file(p))

    assert run_cli(capsys, "plan", RECIPE, "--diff").code == 0
    assert len([path for path in reads if path.resolve() == big.resolve()]) == 1
    reads.clear()
    assert run_cli(capsys, "verify", str(OUT)).code == 0
    assert len([path for path in reads if path.resolve() == big.resolve()]) == 1


def test_a_shard_folder_not_made_yet_beside_a_damaged_sibling_lock(clone, capsys):
    shard = OUT / "shard-1"
    shard.mkdir()
    (shard / "backdrop.lock").write_text("{ not json")
    result = run_cli(capsys, "plan", RECIPE, "--diff", "-o", str(OUT / "shard-3"))
    assert result.code == 0, result.err  # another folder's damaged lock adopts nothing
    assert "4 up to date" in result.out  # as the folder holding the shards' lock says


def charged_images(out: Path) -> int:
    """Images a `run --emulate` was charged for, from the emulator's journal in the state."""
    return sum(entry.n for entry in StateFolder(out / STATE_DIR / "emulator").load().charges)


@pytest.mark.parametrize("damage", ["truncated", "text"])
def test_a_damaged_image_the_lock_records_is_generated_again(clone, capsys, damage):
    """The lock's hash matches, but the file is no whole image: plan --diff and run agree
    that it is generated again, and the run pays for exactly that."""
    whole = (OUT / FIRST).read_bytes()
    broken = whole[: len(whole) // 2] if damage == "truncated" else b"not an image at all\n"
    (OUT / FIRST).write_bytes(broken)
    rewrite(hashlib.sha256(whole).hexdigest(), hashlib.sha256(broken).hexdigest())

    diff = run_cli(capsys, "plan", RECIPE, "--diff", "--format", "json")
    assert diff.code == 0, diff.err
    assert json.loads(diff.out)["totals"]["images_to_generate"] == 1
    ran = run_cli(capsys, "run", RECIPE, "--emulate", "-y")
    assert ran.code == 0, ran.err
    assert charged_images(OUT) == 1
    assert "Up to date by backdrop.lock: 3 jobs" in ran.out
    assert (OUT / FIRST).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run_cli(capsys, "verify", str(OUT)).code == 0


_PATH_PIECES = st.sampled_from(
    [
        "a",
        "é",
        "n" * 63,
        "n" * 64,
        ".",
        "..",
        "/",
        "\\",
        "\x00",
        "\x1f",
        "\ud800",
        ".backdrop",
        "x.png",
    ]
)


@settings(max_examples=300, deadline=None)
@given(path=st.lists(_PATH_PIECES, max_size=6).map("".join))
def test_the_quick_check_of_a_lock_path_never_passes_what_the_full_check_refuses(path):
    from runner.recipe.files import stored_path_problem
    from runner.records import lock_checks

    if lock_checks.path_as_written(path):
        assert stored_path_problem(path, STATE_DIR) is None, path


def test_verify_lists_the_first_missing_files_and_counts_the_rest(clone, capsys) -> None:
    """A lock of 100,000 outputs in a clone without its images: the terminal gets the first
    ones of each kind and a count, not 100,000 lines."""
    from runner.commands.terminal import VERIFY_PATHS_SHOWN

    data = json.loads(lock_text())
    first = data["outputs"][0]
    gone = [{**first, "path": f"zz/gone-{i:04d}.png"} for i in range(VERIFY_PATHS_SHOWN + 70)]
    data["outputs"] = sorted(data["outputs"] + gone, key=lambda entry: entry["path"])
    LOCK.write_text(json.dumps(data, indent=1), encoding="utf-8")
    result = run_cli(capsys, "verify", str(OUT))
    assert result.code == 1, result.err
    listed = [line for line in result.out.splitlines() if line.startswith("missing ")]
    assert listed[:-1] == [f"missing  zz/gone-{i:04d}.png" for i in range(VERIFY_PATHS_SHOWN)]
    assert listed[-1] == "missing  ... and 70 more"
    assert f"{VERIFY_PATHS_SHOWN + 70} missing, 0 changed, 0 stale" in result.err
