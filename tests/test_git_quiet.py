"""Git-quiet re-runs: teams commit the output folder (images, backdrop.lock, the reports), so a
re-run that changes nothing must leave every file in it byte for byte as it was, not even
touched; and a run that changes one job must change only that job's lines and the totals.

Real `backdrop run --emulate` runs through the CLI. Before each re-run every file's modification
time is set far in the past, so that a rewrite with the same bytes shows too. The only files a
run may change without a change of content are its own records in `.backdrop/`: the state
database (each run is recorded there) and the folder guard (it holds the running pid).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from runner.cli import main
from runner.execute.folder_guard import FolderGuard
from runner.records.state import STATE_FILE
from runner.records.state_folder import STATE_DIR
from tests.clihelp import run_cli

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
RECIPE = """\
version: 1
name: quiet
defaults: { size: 1024x1024, quality: low, n: 1, output_format: webp }
matrix:
  product: [mug, tote]
  market:
    - { code: fr, setting: a Paris café }
    - { code: de, setting: a Berlin loft }
  include:
    - { product: mug, market: { code: fr }, quality: low, output_compression: 90 }
image: "images/{{ product }}.png"
prompt: "a {{ product }} in {{ market.setting }}, soft light"
output: "{{ market.code }}/{{ product }}"
"""
# One job changed: mug in fr, at another quality and compression (a new request, a new image at
# the same output path).
CHANGED = RECIPE.replace(
    "quality: low, output_compression: 90", "quality: medium, output_compression: 80"
)
CHANGED_LABEL = "product=mug market=fr"
OUT = Path("out") / "quiet"
REPORTS = ("report.html", "results.json", "results.csv", "junit.xml", "backdrop.lock")
LONG_AGO = 1_000_000_000_000_000_000  # 2001-09-09, in nanoseconds


def run_records(out: Path) -> set[Path]:
    """What a run writes whatever it finds: its record in the state, and the folder guard."""
    state = out / STATE_DIR / STATE_FILE
    journal = {state.with_name(state.name + suffix) for suffix in ("-wal", "-shm")}
    return {state, *journal, FolderGuard(out).path}


def folder_files(out: Path) -> dict[str, tuple[str, int]]:
    """Every file of the folder (its run records aside): its SHA-256 and modification time."""
    skip = run_records(out)
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path not in skip:
            data = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(out).as_posix()] = (data, path.stat().st_mtime_ns)
    return found


def age(out: Path) -> dict[str, tuple[str, int]]:
    """Set every file's modification time long ago; then what folder_files says."""
    for path in out.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(LONG_AGO, LONG_AGO))
    return folder_files(out)


def backdrop(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    result = run_cli(capsys, *args)
    assert result.code == 0, result.out + result.err
    return result.out


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    return backdrop(capsys, "run", "quiet.yaml", "--emulate", "-y", *args)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose recipe was run once: every job done, the reports written."""
    root = tmp_path_factory.mktemp("made")
    shutil.copytree(EXAMPLE / "images", root / "images")
    (root / "quiet.yaml").write_text(RECIPE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
            main(["run", "quiet.yaml", "--emulate", "-y"])
        assert exc.value.code == 0, out.getvalue()
    assert {path.name for path in (root / OUT).iterdir()} >= set(REPORTS)
    return root


@pytest.fixture
def project(
    made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    """A copy of the project, with its folder as cwd, run once there: the state records where
    the recipe is, and the reports name it relative to the folder (a moved project's first run
    rewrites that)."""
    folder = tmp_path / "project"
    shutil.copytree(made, folder, symlinks=True)
    monkeypatch.chdir(folder)
    run(capsys)
    return folder


@pytest.mark.parametrize(
    "again",
    [
        ("run", "quiet.yaml", "--emulate", "-y"),
        ("run", "quiet.yaml", "--emulate", "-y", "--only", "market.code=fr"),
        ("run", "quiet.yaml", "--emulate", "-y", "--retry-failed"),  # nothing failed
        ("run", "quiet.yaml", "--emulate", "-y", "--limit", "1"),
        ("run", "quiet.yaml", "--emulate", "-y", "--shard", "2/2"),
        ("report", str(OUT)),
    ],
    ids=["run", "only", "retry-failed", "limit", "shard", "report"],
)
def test_an_unchanged_rerun_leaves_every_file_as_it_was(project, capsys, again) -> None:
    before = age(OUT)
    assert set(REPORTS) <= set(before)
    assert any(name.startswith(f"{STATE_DIR}/thumbs/") for name in before)
    assert any(name.startswith(f"{STATE_DIR}/emulator/") for name in before)
    backdrop(capsys, *again)
    after = folder_files(OUT)
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    assert changed == []  # not one byte, not one modification time


def test_a_fresh_clone_writes_the_same_reports(project, capsys) -> None:
    """CI runs in a fresh clone: the committed files, no .backdrop/. Its state is taken from
    backdrop.lock; the reports it writes must be the ones committed, untouched."""
    shutil.rmtree(OUT / STATE_DIR)
    committed = age(OUT)
    assert "Up to date by backdrop.lock" in run(capsys)
    now = folder_files(OUT)
    assert {name: now[name] for name in committed} == committed


def changed_lines(before: str, after: str) -> list[str]:
    """The lines a diff of the two texts shows, removed and added."""
    old, new = before.splitlines(), after.splitlines()
    lines: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old, new, autojunk=False
    ).get_opcodes():
        if tag != "equal":
            lines += old[i1:i2] + new[j1:j2]
    return lines


def job_cells(page: str) -> dict[str, str]:
    """Each job's cell in report.html, by its label."""
    cells = re.findall(
        r'(<div class="job [^"]*"[^>]*title="([^"]*)">.*?</dl></details></div>)', page, re.S
    )
    return {label: cell for cell, label in cells}


def test_one_changed_job_changes_only_its_own_lines_and_the_totals(project, capsys) -> None:
    before = {name: (OUT / name).read_text("utf-8-sig") for name in REPORTS}
    old = json.loads(before["results.json"])
    (old_job,) = [job for job in old["jobs"] if job["label"] == CHANGED_LABEL]
    images = age(OUT)
    (project / "quiet.yaml").write_text(CHANGED, encoding="utf-8")
    assert "1 done, 3 up to date" in run(capsys)
    after = {name: (OUT / name).read_text("utf-8-sig") for name in REPORTS}
    new = json.loads(after["results.json"])
    (new_job,) = [job for job in new["jobs"] if job["label"] == CHANGED_LABEL]
    assert new_job["key"] != old_job["key"] and new_job["index"] == old_job["index"]

    # The folder's files: the job's image and the reports; no other file was touched. (In
    # .backdrop/, the emulator records the charge, and the new image gets its thumbnail.)
    now = folder_files(OUT)
    touched = sorted(n for n in images if images[n] != now.get(n) and not n.startswith(STATE_DIR))
    assert touched == sorted(["fr/mug.webp", *REPORTS])
    assert now["fr/mug.webp"][0] != images["fr/mug.webp"][0]  # a new image

    # results.json: the job's entry, and the folder's totals (its cost, its latest generation).
    assert {
        k: v for k, v in new.items() if k not in ("jobs", "estimated_cost_usd", "updated_at")
    } == {k: v for k, v in old.items() if k not in ("jobs", "estimated_cost_usd", "updated_at")}
    assert new["estimated_cost_usd"] > old["estimated_cost_usd"]  # the new generation
    assert [j for j in new["jobs"] if j is not new_job] == [
        j for j in old["jobs"] if j is not old_job
    ]
    assert new_job["generated_at"] >= old_job["generated_at"]

    # results.csv: the job's row, nothing else.
    assert [
        line.split(",")[0] for line in changed_lines(before["results.csv"], after["results.csv"])
    ] == [
        old_job["key"],
        new_job["key"],
    ]

    # junit.xml: the job's line of the suite's output, and the suite's timestamp at most.
    for line in changed_lines(before["junit.xml"], after["junit.xml"]):
        job_line = line.removeprefix("  <system-out>")  # the first job's line starts the element
        assert job_line.startswith(f"{CHANGED_LABEL}: done;") or line.startswith("<testsuite ")

    # report.html: the job's cell (its grid row's line) and the header's cost and time.
    for line in changed_lines(before["report.html"], after["report.html"]):
        assert CHANGED_LABEL in line or line.startswith('<p class="meta">'), line
    old_cells, new_cells = job_cells(before["report.html"]), job_cells(after["report.html"])
    assert len(new_cells) == 4
    assert {k: v for k, v in new_cells.items() if k != CHANGED_LABEL} == {
        k: v for k, v in old_cells.items() if k != CHANGED_LABEL
    }
    assert new_cells[CHANGED_LABEL] != old_cells[CHANGED_LABEL]

    # backdrop.lock: the job's output, and its new generation added (the old one stays: paid;
    # the line before the added one gains a comma, as JSON wants).
    def uncomma(text: str) -> str:
        return re.sub(",$", "", text, flags=re.M)

    lock_lines = changed_lines(uncomma(before["backdrop.lock"]), uncomma(after["backdrop.lock"]))
    assert all(old_job["key"] in line or new_job["key"] in line for line in lock_lines)
    assert any(new_job["record_uuid"] in line for line in lock_lines)


def test_merged_shard_reports_are_git_quiet_too(project, capsys) -> None:
    """The example workflow: shards into OUT/shard-K, then `report --merge` into shard-1."""
    shutil.rmtree(OUT)  # generated by the shards themselves
    shards = [OUT / f"shard-{k}" for k in (1, 2)]
    merge = ("report", "--merge", *map(str, shards))

    def rerun_shards() -> None:
        for number, folder in enumerate(shards, start=1):
            run(capsys, "--shard", f"{number}/2", "-o", str(folder))

    rerun_shards()
    backdrop(capsys, *merge)
    merged = json.loads((shards[0] / "results.json").read_text("utf-8"))
    assert merged["totals"]["done"] == 4 and merged["updated_at"] is not None

    before = {folder: age(folder) for folder in shards}
    backdrop(capsys, *merge)  # merged again: not one file touched
    assert {folder: folder_files(folder) for folder in shards} == before

    rerun_shards()
    backdrop(capsys, *merge)
    after = {folder: folder_files(folder) for folder in shards}
    # shard-1's run wrote its own reports over the merged ones (and let go of the thumbnails of
    # shard-2's images), which the merge put back: the same bytes. Nothing else was touched.
    rewritten = {name for name in REPORTS if name != "backdrop.lock"}
    for folder in shards:
        assert after[folder].keys() == before[folder].keys()
        for name, (digest, mtime) in before[folder].items():
            assert after[folder][name][0] == digest, (folder, name)
            put_back = name in rewritten or name.startswith(f"{STATE_DIR}/thumbs/")
            if folder != shards[0] or not put_back:
                assert after[folder][name][1] == mtime, (folder, name)


def test_a_failure_that_stands_is_told_the_same_way_run_after_run(tmp_path, capsys, monkeypatch):
    """A job the API refuses each time (an asset it does not know): retried, it fails again
    with the same message. The failure stands; the folder, and so every report, is unchanged."""
    shutil.copytree(EXAMPLE / "images", tmp_path / "images")
    recipe = RECIPE.replace(
        'image: "images/{{ product }}.png"',
        "image: \"{{ 'asset:images/gone.png' if product == 'tote' else 'images/mug.png' }}\"",
    )
    (tmp_path / "quiet.yaml").write_text(recipe, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    first = run_cli(capsys, "run", "quiet.yaml", "--emulate", "-y")
    assert first.code == 1 and "2 failed" in first.out, first.out + first.err
    before = age(OUT)
    for again in ((), ("--retry-failed",)):
        result = run_cli(capsys, "run", "quiet.yaml", "--emulate", "-y", *again)
        assert result.code == 1 and "0 done, " in result.out and " 2 failed" in result.out
        assert folder_files(OUT) == before
    results = json.loads((OUT / "results.json").read_text("utf-8"))
    assert results["totals"] == {"jobs": 4, "done": 2, "failed": 2, "pending": 0, "images": 2}
    assert all("is not a known asset" in job["error"] for job in results["jobs"][2:])
