"""Planning at scale: recipes a pull request can write whose size multiplies per job (60,000
`vars`, thousands of include or exclude entries). Each ends in a plan or a diagnostic with
a bounded amount of work, counted in Python lines run rather than measured in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.diagnostics import EXIT_USAGE, RecipeError
from runner.plan import matrix, planner
from runner.plan.axes import MAX_CSV_CELLS, MAX_YAML_BYTES, AxisValues
from runner.plan.matrix import MAX_EXCLUDE_PROBLEMS, expand_matrix
from runner.plan.outputs import MAX_PATH_BYTES
from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe
from tests.clihelp import run_cli
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


def values(name: str, items: list[Any]) -> AxisValues:
    return AxisValues(name, tuple(items), ("matrix", name))


def test_thousands_of_include_and_exclude_entries_cost_no_scan_per_entry():
    # 3,000 entries each compared with 10,000 combinations were 60 million comparisons.
    a = values("a", [f"v{index}" for index in range(100)])
    b = values("b", [f"v{index}" for index in range(100)])
    include = [{"a": f"v{i % 100}", "b": f"v{i % 30}", "quality": f"q{i}"} for i in range(3000)]
    exclude = [{"a": f"v{i % 100}", "b": f"v{(i * 7 + 1) % 100}"} for i in range(3000)]
    with python_lines_at_most(3_000_000):
        combinations = expand_matrix([a, b], include, exclude)
    originals = [combination for combination in combinations if combination.created_by is None]
    assert len(originals) == 10_000 - 100
    # GitHub's rule: the last entry that applies sets the value (entries 5, 305... 2,705).
    quality = {(c.vars["a"], c.vars["b"]): c.vars.get("quality") for c in originals}
    assert quality[("v5", "v5")] == "q2705"
    assert quality[("v5", "v6")] is None


def test_thousands_of_mapping_patterns_over_a_10000_row_csv_axis_use_an_index():
    rows = [{"code": f"c{index}", "n": str(index)} for index in range(10_000)]
    include = [{"m": {"code": f"c{i * 3 + 1}"}, "quality": "high"} for i in range(3000)]
    exclude = [{"m": {"code": f"c{i * 3}"}} for i in range(3000)]
    with python_lines_at_most(3_000_000):
        combinations = expand_matrix([values("m", rows)], include, exclude)
    assert len(combinations) == 7000
    assert sum("quality" in combination.vars for combination in combinations) == 3000


def test_thousands_of_exclude_entries_that_match_nothing_are_counted_not_all_explained(tmp_path):
    rows = "code,setting\n" + "".join(f"c{index},s{index}\n" for index in range(10_000))
    entries = "".join(f"    - {{ m: {{ code: x{index} }} }}\n" for index in range(3000))
    write_files(tmp_path, {"m.csv": rows})
    recipe = load(
        tmp_path,
        f"matrix:\n  m: {{ csv: m.csv }}\n  exclude:\n{entries}image: a.png\n"
        'prompt: "{{ m.setting }}"\noutput: "{{ m.code }}"\n',
    )
    problems = plan_problems(recipe, 3_000_000)
    assert len(problems) == MAX_EXCLUDE_PROBLEMS + 1
    assert problems[19].startswith(
        "recipe.yaml:25:20: error: matrix.exclude[19].m.code: 'x19' matches no value of the "
        "field 'code' (did you mean 'c19'?)"
    )
    assert problems[-1].startswith(
        "recipe.yaml:26:7: error: matrix.exclude[20]: this exclude entry and 2,979 more after it "
        "have problems like those above (only the first 20 are explained)"
    )


def test_include_entries_that_add_millions_of_values_are_refused(tmp_path):
    # Each entry without axis keys adds its key to all 10,000 combinations: 3,000 of them
    # were 30 million values (3 GB) for the jobs' variables.
    entries = "".join(f"    - {{ k{index}: x }}\n" for index in range(300))
    used = "".join(f"{{{{ k{index} }}}}" for index in range(300))
    recipe = load(
        tmp_path,
        f"matrix:\n  a: {axis(100)}\n  b: {axis(100)}\n  include:\n{entries}image: a.png\n"
        f'prompt: "{{% if false %}}{used}{{% endif %}}{{{{ a }}}} {{{{ b }}}}"\n'
        'output: "{{ a }}/{{ b }}"\n',
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matrix, "MAX_ADDED_VALUES", 1_000_000)
        patch.setattr(planner, "MAX_ADDED_VALUES", 1_000_000)
        [problem] = plan_problems(recipe, 3_000_000)
    assert problem.startswith(
        "recipe.yaml:7:5: error: matrix.include: the include entries add 3,000,000 values to the "
        "combinations, more than the 1,000,000 a plan may hold"
    )


def test_a_csv_axis_with_millions_of_cells_is_refused_before_it_is_read(tmp_path):
    # 50 MB of "a\n" were 25 million rows and 5 GB; separators are counted first.
    write_files(tmp_path, {"m.csv": b"code\n" + b"a\n" * 2_000_000})
    recipe = load(
        tmp_path,
        'matrix:\n  m: { csv: m.csv }\nimage: a.png\nprompt: "{{ m.code }}"\noutput: o\n',
    )
    [problem] = plan_problems(recipe, 1_000_000)
    assert problem.startswith(
        f"recipe.yaml:4:13: error: matrix.m.csv: the file m.csv has more than {MAX_CSV_CELLS:,} "
        "cells (counting every separator and line end); an axis file may have at most that many"
    )


def test_a_yaml_axis_file_is_capped_by_size_before_it_is_composed(tmp_path):
    # Composing YAML builds every node first: 50 MB of "- v" were 5 million nodes and 3 GB.
    write_files(tmp_path, {"m.yaml": "- v\n" * (MAX_YAML_BYTES // 4 + 1)})
    recipe = load(
        tmp_path,
        'matrix:\n  m: { yaml: m.yaml }\nimage: a.png\nprompt: "{{ m }}"\noutput: "{{ m }}"\n',
    )
    [problem] = plan_problems(recipe, 1_000_000)
    assert (
        "error: matrix.m.yaml: the file m.yaml is too large (5.0 MB; the limit is 5.0 MB)"
        in problem
    )


def test_a_recipe_may_raise_its_job_cap_to_100000_at_most(tmp_path, capsys):
    # Planning takes about 30 µs a job: 100,000 jobs stay within seconds on every pull request.
    write_files(tmp_path, {"a.png": png_bytes()})
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("version: 1\nname: s\nmax_jobs: 200000\nimage: a.png\nprompt: p\noutput: o\n")
    result = run_cli(capsys, "validate", str(recipe))
    assert result.code == EXIT_USAGE
    assert "recipe.yaml:3:11: error: max_jobs: 200000 is more than the maximum of 100000" in (
        result.out + result.err
    )


def test_a_long_rendered_value_is_not_compared_for_a_did_you_mean(tmp_path):
    # Found by the schema fuzzer: difflib indexed the 99,000 characters again for every job
    # (25 s for 2,000 jobs) to suggest one of three sizes.
    recipe = load(
        tmp_path,
        f"defaults:\n  size: \"{{{{ 'x' * 99000 }}}}\"\nmatrix:\n  a: {axis(10)}\n  b: {axis(10)}\n"
        'image: a.png\nprompt: "{{ a }} {{ b }}"\noutput: "{{ a }}/{{ b }}"\n',
    )
    [problem] = plan_problems(recipe, 2_000_000)
    assert problem.startswith(
        "recipe.yaml:4:9: error: defaults.size: size: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    )
    assert "… (99,000 characters) is not one of 1024x1024, 1024x1536, 1536x1024 (in all 100" in (
        problem
    )


def test_an_output_path_thousands_of_folders_deep_is_refused_once(tmp_path, capsys):
    # Each job's 2,000 folder names were checked one by one: 20 s for 10,000 jobs; no file
    # system takes such a path (macOS: 1,024 bytes).
    deep = "/".join(["d"] * 2000)
    recipe = load(
        tmp_path,
        f"matrix:\n  a: {axis(100)}\n  b: {axis(100)}\nimage: a.png\n"
        f'prompt: "{{{{ a }}}} {{{{ b }}}}"\noutput: "{deep}/{{{{ a }}}}-{{{{ b }}}}"\n',
    )
    [problem] = plan_problems(recipe, 20_000_000)
    assert problem.startswith(
        "recipe.yaml:8:9: error: output: the output path is 4,005 bytes long; at most "
        f"{MAX_PATH_BYTES:,} are allowed (macOS refuses longer paths) (in all 10,000 jobs)"
    )


def test_a_recipe_on_one_long_line_prints_each_diagnostic_short(tmp_path, capsys):
    # YAML's flow style puts a whole recipe on one line: each of hundreds of diagnostics
    # printed that line whole, underlined (141 MB of output for a 107 KB recipe).
    entries = ", ".join(f"{{a: v{i % 100}, b: v{i % 7}, quality: q{i}}}" for i in range(3000))
    recipe = tmp_path / "recipe.yaml"
    write_files(tmp_path, {"a.png": png_bytes()})
    recipe.write_text(
        f"{{version: 1, name: c, matrix: {{a: {axis(100)}, b: {axis(100)}, include: [{entries}]}},"
        ' image: a.png, prompt: "{{ a }} {{ b }}", output: "{{ a }}/{{ b }}"}\n'
    )
    result = run_cli(capsys, "plan", str(recipe))
    assert result.code == EXIT_USAGE
    shown = result.out + result.err
    assert len(shown) < 2_000_000
    assert (
        "    1 | …}, {a: v99, b: v3, quality: q2299}, {a: v0, b: v4, quality: q2300}, {a:" in shown
    )
