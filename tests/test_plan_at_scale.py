"""Planning at scale: recipes a pull request can write whose size multiplies per job (60,000
`vars`, thousands of include or exclude entries). Each ends in a plan or a diagnostic with
a bounded amount of work, counted in Python lines run rather than measured in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.diagnostics import RecipeError
from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe
from tests.plan_support import png_bytes, write_files
from tests.work_bound import python_lines_at_most

VARS = 60_000


def axis(count: int) -> str:
    return "[" + ", ".join(f"v{index}" for index in range(count)) + "]"


def load(folder: Path, recipe: str) -> object:
    write_files(folder, {"a.png": png_bytes(), "recipe.yaml": f"version: 1\nname: s\n{recipe}"})
    return load_recipe(folder / "recipe.yaml", display="recipe.yaml")


def plan_problems(recipe: object, limit: int) -> list[str]:
    """Plan `recipe` within `limit` Python lines; the rendered diagnostics."""
    with python_lines_at_most(limit), pytest.raises(RecipeError) as caught:
        plan_recipe(recipe)  # type: ignore[arg-type]
    return [diagnostic.render() for diagnostic in caught.value.diagnostics()]


def test_an_undefined_name_among_60000_vars_is_suggested_once_per_plan(tmp_path):
    # difflib over every variable for every job was 2,000 x 60,000 comparisons; the context
    # copied the 60,000 vars for each job, and each message split the 1 MB recipe into lines.
    variables = "".join(f"  var{index:05d}: x\n" for index in range(VARS))
    recipe = load(
        tmp_path,
        f"vars:\n{variables}matrix:\n  a: {axis(20)}\n  b: {axis(100)}\nimage: a.png\n"
        'prompt: "{{ a }} {{ b }} {{ vra00001 }}"\noutput: "{{ a }}/{{ b }}"\n',
    )
    [problem] = plan_problems(recipe, 10_000_000)
    line = 3 + VARS + 5
    assert problem.startswith(
        f"recipe.yaml:{line}:9: error: prompt: 'vra00001' is undefined (did you mean "
        "'var00001'?) (in all 2,000 jobs)\n"
    )
    assert "hint: the variables here are: var00000, var00001, var00002," in problem
    assert f"var00029, and {VARS - 30 + 3:,} more" in problem  # and a, b, recipe
    assert len(problem) < 1_000
