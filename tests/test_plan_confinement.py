"""Recipes arrive through pull requests: data files and images stay inside the recipe's project
(its folder, or the git repository holding it), unless --allow-outside names another folder."""

from __future__ import annotations

import os

import pytest

from runner.diagnostics import EXIT_OK, EXIT_USAGE
from runner.plan import globaxis
from runner.plan.axes import SOURCES, load_axes
from runner.recipe.model import Axis, AxisSource
from tests.clihelp import run_cli
from tests.plan_support import headlines, make_recipe, plan_errors, plan_text, png_bytes

HEAD = "version: 1\nname: t\n"
TAIL = 'image: a.png\nprompt: "p"\noutput: "{{ m.stem }}"\n'
OUTSIDE = "is outside the recipe's project folder"


def glob_recipe(pattern: str) -> str:
    return HEAD + f"matrix:\n  m: {{ glob: '{pattern}' }}\n" + TAIL


def test_an_absolute_glob_is_refused_before_walking_anything(tmp_path):
    [diagnostic] = plan_errors(tmp_path, glob_recipe("/**"), {"a.png": png_bytes()})
    assert diagnostic.headline() == (
        "recipe.yaml:4:14: error: matrix.m.glob: the pattern '/**' is not relative to the "
        "recipe's folder"
    )


def test_a_glob_climbing_out_of_the_project_is_refused(tmp_path):
    [diagnostic] = plan_errors(
        tmp_path / "r", glob_recipe("../../../../etc/pass*"), {"a.png": png_bytes()}
    )
    assert "the pattern '../../../../etc/pass*' reaches a folder that" in diagnostic.message
    assert OUTSIDE in diagnostic.message
    assert "--allow-outside" in (diagnostic.hint or "")


def test_a_globbed_symlink_to_a_file_outside_is_refused(tmp_path):
    (tmp_path / "secret.png").write_bytes(png_bytes())
    project = tmp_path / "r"
    (project / "shots").mkdir(parents=True)
    os.symlink(tmp_path / "secret.png", project / "shots" / "x.png")
    [diagnostic] = plan_errors(project, glob_recipe("shots/*.png"), {"a.png": png_bytes()})
    assert diagnostic.message.startswith(f"the file shots/x.png {OUTSIDE}")


def test_a_csv_outside_the_project_is_refused(tmp_path):
    text = HEAD + "matrix:\n  m: { csv: /etc/passwd }\n" + TAIL
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes()})
    assert diagnostic.path == "matrix.m.csv"
    assert f"the file /etc/passwd {OUTSIDE}" in diagnostic.message


def test_an_image_outside_the_project_is_refused_even_through_a_symlink(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(png_bytes())
    project = tmp_path / "r"
    project.mkdir()
    os.symlink(tmp_path / "other" / "a.png", project / "a.png")
    text = HEAD + 'image: a.png\nprompt: "p"\noutput: o\n'
    [diagnostic] = plan_errors(project, text)
    assert diagnostic.message.startswith(f"the image a.png {OUTSIDE}")
    plan = plan_text(project, text, allow_outside=[tmp_path / "other"])
    assert len(plan.jobs) == 1


def test_the_git_repository_holding_the_recipe_is_the_project(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png_bytes())
    text = HEAD + 'image: ../images/a.png\nprompt: "p"\noutput: o\n'
    assert len(plan_text(tmp_path / "recipes", text).jobs) == 1


def test_allow_outside_on_the_command_line(tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "a.png").write_bytes(png_bytes())
    project = tmp_path / "r"
    project.mkdir()
    recipe = project / "recipe.yaml"
    recipe.write_text(HEAD + 'image: ../shared/a.png\nprompt: "p"\noutput: o\n', "utf-8")
    refused = run_cli(capsys, "validate", str(recipe))
    assert refused.code == EXIT_USAGE and OUTSIDE in refused.err
    for command in ("validate", "plan"):
        allowed = run_cli(capsys, command, str(recipe), "--allow-outside", str(shared))
        assert allowed.code == EXIT_OK, allowed.out + allowed.err


def test_a_glob_has_a_cap_on_matches(tmp_path, monkeypatch):
    monkeypatch.setattr(globaxis, "MAX_GLOB_MATCHES", 3)
    files: dict[str, bytes | str] = {f"shots/{i}.png": png_bytes() for i in range(4)}
    [diagnostic] = plan_errors(tmp_path, glob_recipe("shots/*.png"), {**files, "a.png": b""})
    assert diagnostic.message == "the pattern 'shots/*.png' matches more than 3 files"


def test_a_glob_has_a_time_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(globaxis, "GLOB_SECONDS", -1.0)  # already over when the first match comes
    files: dict[str, bytes | str] = {"shots/1.png": png_bytes(), "a.png": png_bytes()}
    [diagnostic] = plan_errors(tmp_path, glob_recipe("shots/*.png"), files)
    assert diagnostic.message == "the pattern 'shots/*.png' took more than -1 s to list its files"


def test_an_unknown_axis_source_is_an_error_not_a_glob(tmp_path):
    recipe = make_recipe(tmp_path, HEAD + "image: a.png\nprompt: p\noutput: o\n")
    odd = Axis("m", AxisSource("cvs", path="m.csv"), ("matrix", "m"))
    axes, problems = load_axes(_with_axes(recipe, odd))
    assert axes == ()
    assert [d.message for d in problems] == ["unknown axis source 'cvs' (did you mean 'csv'?)"]
    assert set(SOURCES) == {"inline", "csv", "yaml", "glob", "xlsx"}


def _with_axes(recipe, *axes):
    import dataclasses

    return dataclasses.replace(recipe, axes=axes)


@pytest.mark.parametrize("kind", ["csv", "yaml"])
def test_the_key_scan_runs_for_every_file_source(tmp_path, monkeypatch, kind):
    key = "mk-live-0123456789abcdef"
    monkeypatch.setenv("ONEMIN_API_KEY", key)
    data = f"code\n{key}\n" if kind == "csv" else f"- {key}\n"
    text = HEAD + f"matrix:\n  m: {{ {kind}: m.{kind} }}\n" + TAIL
    [diagnostic] = plan_errors(tmp_path, text, {"a.png": png_bytes(), f"m.{kind}": data})
    assert "contains your API key" in diagnostic.message
    assert key not in "\n".join(headlines([diagnostic]))


GLOB_TREE = (
    "a.png",
    "b.jpg",
    ".hidden.png",
    "images/a.png",
    "images/b.png",
    "images/sub/c.png",
    "images/sub/deeper/d.png",
    "images/.secret/e.png",
    "docs/readme.txt",
    "x[1].png",
)


@pytest.mark.parametrize(
    "pattern",
    [
        "*.png",
        "images/*.png",
        "**/*.png",
        "**",
        "images/**",
        "images/**/*.png",
        "*/*.png",
        "images/?.png",
        "images/[ab].png",
        "**/sub/*.png",
        ".*",
        "images/.secret/*",
        "./images/*.png",
        "images//a.png",
        "images/",
        "nothing/*",
        "**/*.txt",
        "*/**/d.png",
        "images/sub/deeper/d.png",
    ],
)
def test_the_bounded_walk_finds_the_files_glob_finds(tmp_path, pattern):
    import glob

    for name in GLOB_TREE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    expected = glob.glob(pattern, root_dir=tmp_path, recursive=True)
    got = globaxis.walk_glob(tmp_path, pattern, deadline=float("inf"))
    # Compared as normalised paths: glob keeps a doubled '/', the walk does not.
    files = {os.path.normpath(m) for m in expected if (tmp_path / m).is_file()}
    assert {os.path.normpath(m) for m in got if (tmp_path / m).is_file()} == files
    assert files or pattern in ("images/", "nothing/*", "**")


def test_the_walk_stops_at_its_deadline_even_when_nothing_matches(tmp_path):
    for index in range(30):
        (tmp_path / f"d{index}" / "e").mkdir(parents=True)
    walk = globaxis.walk_glob(tmp_path, "**/*.never", deadline=0.0)
    with pytest.raises(globaxis._TooSlow):
        list(walk)


def test_a_glob_does_not_loop_through_a_symlinked_folder(tmp_path):
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "b.png").write_bytes(png_bytes())
    os.symlink(tmp_path / "shots", tmp_path / "shots" / "loop")
    plan = plan_text(tmp_path, glob_recipe("**/*.png"), {"a.png": png_bytes()})
    assert [job.vars["m"]["path"] for job in plan.jobs] == ["a.png", "shots/b.png"]


DEEP = 1_100  # folders: past Python's recursion limit for a walk that calls itself per folder


@pytest.fixture
def deep_tree(tmp_path):
    """tmp_path/d/d/.../d/z.png, DEEP folders down; removed bottom up (rmtree would recurse)."""
    folder = str(tmp_path)
    for _ in range(DEEP):
        folder = os.path.join(folder, "d")
        os.mkdir(folder)
    with open(os.path.join(folder, "z.png"), "wb") as file:
        file.write(png_bytes())
    yield "/".join(["d"] * DEEP) + "/z.png"
    os.remove(os.path.join(folder, "z.png"))
    while folder != str(tmp_path):
        os.rmdir(folder)
        folder = os.path.dirname(folder)


@pytest.mark.parametrize("pattern", ["**/*.png", "*/" * DEEP + "*.png"])
def test_a_glob_walks_a_folder_tree_thousands_of_levels_deep(tmp_path, deep_tree, pattern):
    plan = plan_text(tmp_path, glob_recipe(pattern), {"a.png": png_bytes()})
    found = sorted(job.vars["m"]["path"] for job in plan.jobs)
    assert found == (["a.png", deep_tree] if pattern.startswith("**") else [deep_tree])
