"""Every file backdrop reads from a repository is confined to it: a recipe, review.yaml,
backdrop.lock or .backdrop/ committed as a link to a file outside is never read (and never
quoted into a public CI log), and a run never writes through such a link."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from runner.records.state_folder import STATE_DIR
from tests.clihelp import CliResult, run_cli
from tests.deliverhelp import write_campaign

OUT = Path("campaign") / "out" / "deliver-test"
RECIPE = "campaign/recipe.yaml"
SECRET = "hunter2-do-not-print"
# Shaped so that a reader that followed the link would quote it: every line is a YAML key
# no file has ("unknown key ..."), or a line without ':' (its text shown under the error).
SECRET_YAML = f"password: {SECRET}\n{SECRET} second line\n"
SECRET_JSON = (
    '{"format": 2, "recipe": "deliver-test", "outputs": [{"path": "'
    + SECRET
    + '/../x.png", "job": "a", "sha256": "b"}]}\n'
)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding a campaign run with --emulate: out/ has its lock, images
    and state."""
    root = tmp_path_factory.mktemp("made")
    (root / ".git").mkdir()
    write_campaign(root / "campaign")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        from runner.cli import main

        with pytest.raises(SystemExit) as done:
            main(["run", RECIPE, "--emulate", "-y"])
        assert done.value.code == 0
    return root


@pytest.fixture
def repo(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository, as cwd, beside an outside folder holding a secret file."""
    folder = tmp_path / "repo"
    shutil.copytree(made, folder, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(SECRET_YAML)
    (outside / "secret.json").write_text(SECRET_JSON)
    monkeypatch.chdir(folder)
    return folder


def told(result: CliResult) -> str:
    output = result.out + result.err
    assert SECRET not in output, output
    assert "Traceback" not in output and "internal error" not in output, output
    return output


def test_a_review_yaml_linked_out_of_the_repository_is_never_quoted(repo, capsys):
    (OUT / "review.yaml").symlink_to(repo.parent / "outside" / "secret.yaml")
    for args in (
        ("plan", RECIPE, "--diff"),  # what pr.yml runs on every pull request
        ("plan", RECIPE, "--diff", "--format", "markdown"),
        ("plan", RECIPE),
        ("verify", str(OUT)),
        ("export", str(OUT), "--to", "delivery"),
    ):
        result = run_cli(capsys, *args)
        assert result.code == 2, args
        assert (
            f"{OUT}/review.yaml: error: the file is a link to a file outside the project "
            f"({repo}), so it is not read"
        ) in told(result), args
        assert "review.yaml belongs in the output folder" in result.err


def test_verify_writes_its_summary_before_refusing_a_linked_review_yaml(repo, capsys, monkeypatch):
    summary = repo / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    (OUT / "review.yaml").symlink_to(repo.parent / "outside" / "secret.yaml")
    result = run_cli(capsys, "verify", str(OUT))
    assert result.code == 2
    assert "ok: every file matches backdrop.lock" in result.out
    assert "review.yaml: error: the file is a link to a file outside" in told(result)
    assert "Every image matches backdrop.lock." in summary.read_text()


def test_a_recipe_linked_out_of_the_repository_is_read_only_when_allowed(repo, capsys):
    Path("campaign/evil.yaml").symlink_to(repo.parent / "outside" / "secret.yaml")
    result = run_cli(capsys, "validate", "campaign/evil.yaml")
    assert result.code == 2
    assert (
        "campaign/evil.yaml: error: the file is a link to a file outside the project "
        f"({repo}), so it is not read"
    ) in told(result)
    assert "--allow-outside FOLDER" in result.err
    # Naming the folder is the user's own choice: then it is read like any recipe.
    allowed = run_cli(
        capsys, "validate", "campaign/evil.yaml", "--allow-outside", str(repo.parent / "outside")
    )
    assert allowed.code == 2 and SECRET in allowed.err


def test_a_lock_linked_out_of_the_repository_is_never_quoted(repo, capsys):
    shutil.rmtree(OUT / STATE_DIR)  # a fresh clone: the lock is what plan --diff reads
    (OUT / "backdrop.lock").unlink()
    (OUT / "backdrop.lock").symlink_to(repo.parent / "outside" / "secret.json")
    for args in (("plan", RECIPE, "--diff"), ("verify", str(OUT))):
        result = run_cli(capsys, *args)
        assert result.code == 2, args
        assert f"{OUT}/backdrop.lock: error: the file is a link to a file outside" in told(result)


def test_a_state_linked_out_of_the_repository_is_never_read(repo, capsys):
    state = OUT / STATE_DIR / "state.db"
    state.unlink()
    state.symlink_to(repo.parent / "outside" / "secret.yaml")
    for args in (("plan", RECIPE, "--diff"), ("report", str(OUT))):
        result = run_cli(capsys, *args)
        assert result.code == 3, args
        assert f"{state} is a link to a place outside the project ({repo})" in told(result)


@pytest.mark.parametrize("name", ["lock", "reserve"])
def test_a_run_never_writes_through_a_committed_link(repo, capsys, name):
    """`.backdrop/lock` is truncated by every run and `.backdrop/reserve` grown to 512 KB:
    through a link to ~/.bashrc, a run would have damaged it."""
    victim = repo.parent / "outside" / "bashrc"
    victim.write_text("export PATH=$HOME/bin:$PATH\n")
    entry = OUT / STATE_DIR / name
    entry.unlink(missing_ok=True)
    entry.symlink_to(victim)
    result = run_cli(capsys, "run", RECIPE, "--emulate", "-y", "--force")
    assert result.code == 3
    assert f"{entry} is a link to a place outside the project" in result.err
    assert victim.read_text() == "export PATH=$HOME/bin:$PATH\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_state_file_that_is_a_pipe_is_not_opened(repo, capsys):
    wal = OUT / STATE_DIR / "state.db-wal"
    wal.unlink(missing_ok=True)
    os.mkfifo(wal)
    result = run_cli(capsys, "plan", RECIPE, "--diff")
    assert result.code == 3
    assert f"{wal} is not a plain file, so backdrop does not open it" in told(result)


def test_links_that_stay_in_the_repository_are_followed(repo, capsys):
    shared = Path("shared")
    shared.mkdir()
    decisions = "version: 1\njobs:\n  fr-FR/MUG-01:\n    status: rejected\n"
    (shared / "review.yaml").write_text(decisions)
    (OUT / "review.yaml").symlink_to(Path("../../../shared/review.yaml"))
    Path("campaign/linked.yaml").symlink_to(Path("recipe.yaml"))
    result = run_cli(capsys, "plan", "campaign/linked.yaml", "--diff")
    assert result.code == 0, result.err
    assert "up to date" in result.out
    assert run_cli(capsys, "verify", str(OUT)).code == 0


@pytest.mark.parametrize("linked", ["the folder", "each image"])
def test_images_a_lock_records_behind_a_link_out_of_the_repository_are_not_read(
    repo, capsys, linked
):
    """The same bytes outside the repository, reached through a folder or a file link: verify
    never hashes them (they do not match), and the plan refuses the links."""
    shutil.rmtree(OUT / STATE_DIR)
    outside = repo.parent / "outside" / "images"
    shutil.copytree(OUT / "de-DE", outside)
    if linked == "the folder":
        shutil.rmtree(OUT / "de-DE")
        (OUT / "de-DE").symlink_to(outside)
    else:
        for image in (OUT / "de-DE").iterdir():
            image.unlink()
            image.symlink_to(outside / image.name)
    verified = run_cli(capsys, "verify", str(OUT))
    assert verified.code == 1
    assert "changed  de-DE/CAP-02.png" in told(verified)
    assert "changed  de-DE/MUG-01.png" in verified.out and "fr-FR" not in verified.out
    diff = run_cli(capsys, "plan", RECIPE, "--diff")
    assert diff.code == 2  # the plan refuses links where it writes (a run would follow them)
    assert "in the output folder is a" in told(diff)


def test_images_in_a_folder_linked_inside_the_repository_are_read(repo, capsys):
    shutil.move(OUT / "de-DE", "elsewhere")
    (OUT / "de-DE").symlink_to(Path("../../../elsewhere"))
    verified = run_cli(capsys, "verify", str(OUT))
    assert verified.code == 0, verified.out
