"""GitHub Actions `strategy.matrix` semantics, with the documented examples."""

from __future__ import annotations

from typing import Any

from runner.plan.axes import AxisValues
from runner.plan.matrix import expand_matrix, matrix_size, value_matches
from tests.plan_support import headlines, plan_errors, plan_text, png_bytes


def axes(**values: list[Any]) -> list[AxisValues]:
    return [AxisValues(name, tuple(v), ("matrix", name)) for name, v in values.items()]


def expand(axis_values: dict[str, list[Any]], include=(), exclude=()) -> list[dict[str, Any]]:
    combos = expand_matrix(axes(**axis_values), list(include), list(exclude))
    return [dict(combo.vars) for combo in combos]


def test_github_documented_include_example_gives_its_six_jobs():
    jobs = expand(
        {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]},
        include=[
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    )
    assert jobs == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_github_documented_exclude_example():
    jobs = expand(
        {
            "os": ["macos-latest", "windows-latest"],
            "version": [12, 14, 16],
            "environment": ["staging", "production"],
        },
        exclude=[
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
    )
    assert len(jobs) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in jobs
    assert not [j for j in jobs if j["os"] == "windows-latest" and j["version"] == 16]
    assert {"os": "macos-latest", "version": 12, "environment": "staging"} in jobs


def test_github_documented_include_only_example_runs_exactly_its_entries():
    entries = [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]
    assert expand({}, include=entries) == entries


def test_github_documented_expanding_configurations_example():
    jobs = expand(
        {"os": ["windows-latest", "ubuntu-latest"], "node": [14, 16]},
        include=[{"os": "windows-latest", "node": 16, "npm": 6}],
    )
    assert jobs == [
        {"os": "windows-latest", "node": 14},
        {"os": "windows-latest", "node": 16, "npm": 6},
        {"os": "ubuntu-latest", "node": 14},
        {"os": "ubuntu-latest", "node": 16},
    ]


def test_github_documented_adding_a_combination_example():
    jobs = expand(
        {"os": ["windows-latest", "ubuntu-latest"], "version": [12, 14, 16]},
        include=[{"os": "windows-latest", "version": 17}],
    )
    assert len(jobs) == 7
    assert jobs[-1] == {"os": "windows-latest", "version": 17}


def test_include_never_overwrites_an_original_axis_value():
    jobs = expand(
        {"fruit": ["apple"], "animal": ["cat"]},
        include=[{"fruit": "apple", "animal": "bird", "color": "red"}],
    )
    # animal is an axis: it must match, never be replaced; so the entry is a job of its own.
    assert jobs == [
        {"fruit": "apple", "animal": "cat"},
        {"fruit": "apple", "animal": "bird", "color": "red"},
    ]


def test_later_include_overwrites_value_added_by_earlier_include():
    jobs = expand({"a": [1, 2]}, include=[{"x": "first"}, {"a": 2, "x": "second"}])
    assert jobs == [{"a": 1, "x": "first"}, {"a": 2, "x": "second"}]


def test_include_applies_after_exclude():
    # The include entry matches only the excluded combination, so it becomes its own job.
    jobs = expand(
        {"a": [1, 2]},
        exclude=[{"a": 1}],
        include=[{"a": 1, "extra": True}],
    )
    assert jobs == [{"a": 2}, {"a": 1, "extra": True}]


def test_mapping_values_match_partially_and_recursively():
    rows = [
        {"sku": "MUG-01", "dims": {"w": 10, "h": 12}},
        {"sku": "TOTE-02", "dims": {"w": 30, "h": 40}},
    ]
    jobs = expand(
        {"product": rows, "season": ["spring", "winter"]},
        exclude=[{"product": {"dims": {"w": 30}}, "season": "winter"}],
        include=[{"product": {"sku": "MUG-01"}, "season": "spring", "quality": "high"}],
    )
    assert len(jobs) == 3
    assert jobs[0] == {"product": rows[0], "season": "spring", "quality": "high"}
    assert all("quality" not in job for job in jobs[1:])
    assert jobs[1]["product"] is rows[0]  # values are shared, not copied


def test_value_matching_rules():
    assert value_matches({"code": "ja-JP"}, {"code": "ja-JP", "country": "Japan"})
    assert not value_matches({"code": "ja-JP", "x": 1}, {"code": "ja-JP"})
    assert not value_matches({"code": "ja-JP"}, "ja-JP")
    assert value_matches(12, "12")  # CSV cells are text
    assert value_matches("12", 12)
    assert not value_matches(True, 1)
    assert not value_matches("NO", False)
    assert value_matches([1, 2], [1, 2])


def test_an_include_created_combination_records_its_entry():
    combos = expand_matrix(axes(a=[1]), [{"a": 9, "b": 2}], [])
    assert combos[1].created_by == 0
    assert dict(combos[1].origins) == {"a": 0, "b": 0}
    assert combos[0].created_by is None


def test_include_added_keys_remember_which_entry_set_them():
    combos = expand_matrix(axes(a=[1, 2]), [{"q": "low"}, {"a": 2, "q": "high"}], [])
    assert dict(combos[0].origins) == {"q": 0}
    assert dict(combos[1].origins) == {"q": 1}


def test_matrix_size_is_computed_without_expanding():
    huge = [AxisValues(f"a{i}", tuple(range(1000)), ("matrix", f"a{i}")) for i in range(4)]
    assert matrix_size(huge) == 10**12
    assert matrix_size([]) == 0


def test_hundred_thousand_combinations_expand_with_shared_added_dicts():
    big = axes(a=list(range(100)), b=list(range(100)), c=list(range(10)))
    combos = expand_matrix(big, [{"flag": "x"}, {"a": 0, "flag": "y"}], [{"b": 5}])
    assert len(combos) == 100 * 99 * 10
    assert combos[0].vars == {"a": 0, "b": 0, "c": 0, "flag": "y"}
    assert combos[-1].vars == {"a": 99, "b": 99, "c": 9, "flag": "x"}
    # One origins mapping per distinct set of include keys, not one per combination.
    assert len({id(combo.origins) for combo in combos}) == 2


RECIPE = """\
version: 1
name: m
matrix:
  season: [spring, winter]
  market: {{ csv: markets.csv }}
  exclude:
{exclude}
image: a.png
prompt: "{{{{ season }}}} in {{{{ market.code }}}}"
output: "{{{{ market.code }}}}-{{{{ season }}}}"
"""
FILES = {"a.png": png_bytes(), "markets.csv": "code,n\nfr-FR,1\nja-JP,2\n"}


def test_exclude_key_that_is_not_an_axis_is_an_error_with_did_you_mean(tmp_path):
    text = RECIPE.format(exclude="    - { seasn: winter }")
    diagnostics = plan_errors(tmp_path, text, FILES)
    assert headlines(diagnostics) == [
        "recipe.yaml:7:9: error: matrix.exclude[0].seasn: 'seasn' is not an axis "
        "(did you mean 'season'?)"
    ]
    assert diagnostics[0].hint == "the axes are: season, market"


def test_exclude_field_missing_from_every_row_is_an_error(tmp_path):
    text = RECIPE.format(exclude="    - { market: { cod: ja-JP } }")
    diagnostics = plan_errors(tmp_path, text, FILES)
    assert headlines(diagnostics) == [
        "recipe.yaml:7:19: error: matrix.exclude[0].market.cod: no value of this axis has a "
        "field 'cod' (did you mean 'code'?)"
    ]


def test_exclude_by_csv_field_and_number_written_as_yaml_int(tmp_path):
    text = RECIPE.format(exclude="    - { market: { n: 2 }, season: winter }")
    plan = plan_text(tmp_path, text, FILES)
    assert [job.label for job in plan.jobs] == [
        "season=spring market=fr-FR",
        "season=spring market=ja-JP",
        "season=winter market=fr-FR",
    ]


def test_exclude_value_that_matches_no_value_of_its_axis_is_an_error(tmp_path):
    text = RECIPE.format(exclude="    - { season: Winter }")
    [diagnostic] = plan_errors(tmp_path, text, FILES)
    assert diagnostic.headline() == (
        "recipe.yaml:7:17: error: matrix.exclude[0].season: 'Winter' matches no value of the "
        "axis 'season' (did you mean 'winter'?)"
    )
    assert diagnostic.hint == "the values are: spring, winter"


def test_exclude_field_value_is_compared_per_field(tmp_path):
    text = RECIPE.format(exclude="    - { market: { code: ja-jp } }")
    [diagnostic] = plan_errors(tmp_path, text, FILES)
    assert diagnostic.headline() == (
        "recipe.yaml:7:25: error: matrix.exclude[0].market.code: 'ja-jp' matches no value of the "
        "field 'code' (did you mean 'ja-JP'?)"
    )


def test_exclude_scalar_against_mapping_values_says_to_name_a_field(tmp_path):
    text = RECIPE.format(exclude="    - { market: ja-JP }")
    [diagnostic] = plan_errors(tmp_path, text, FILES)
    assert diagnostic.message == "'ja-JP' matches no value of the axis 'market'"
    assert diagnostic.hint == (
        "the values of the axis 'market' are mappings; name a field, e.g. { code: 'ja-JP' }"
    )
