"""The YAML loader: safe, YAML 1.2 scalars, duplicate keys refused, positions kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.diagnostics import RecipeError
from runner.recipe.loader import MAX_ALIASES, LoadedDocument, load_yaml, load_yaml_file


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors(text: str, file: str = "r.yaml") -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_yaml(text, file)
    return [d.render() for d in caught.value.diagnostics()]


def test_yaml_1_1_words_stay_the_strings_people_typed(tmp_path: Path) -> None:
    text = (
        "codes: [NO, ON, OFF, yes, Yes, no, on, off, y, n, Y, N]\n"
        "bools: [true, True, TRUE, false, False, FALSE]\n"
        "nulls: [null, Null, NULL, ~]\n"
        "empty:\n"
        "time: 1:20\n"
        "zip: 0777\n"
        "hex: 0x1F\n"
        "grouped: 1_000\n"
        "date: 2024-03-01\n"
        "count: 12\n"
        "negative: -3\n"
        "ratio: 1.5\n"
        "quoted: 'true'\n"
    )
    data = load_yaml_file(write(tmp_path, text)).data
    assert data["codes"] == ["NO", "ON", "OFF", "yes", "Yes", "no", "on", "off", "y", "n", "Y", "N"]
    assert data["bools"] == [True, True, True, False, False, False]
    assert all(isinstance(b, bool) for b in data["bools"])
    assert data["nulls"] == [None, None, None, None]
    assert data["empty"] is None
    assert data["time"] == "1:20"
    assert data["zip"] == "0777"
    assert data["hex"] == "0x1F"
    assert data["grouped"] == "1_000"
    assert data["date"] == "2024-03-01"
    assert data["count"] == 12 and isinstance(data["count"], int)
    assert data["negative"] == -3
    assert data["ratio"] == 1.5
    assert data["quoted"] == "true"


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!python/object/apply:os.system ['touch {marker}']", "!!python/object/apply:os.system"),
        ("!!python/object/new:os.system ['touch {marker}']", "!!python/object/new:os.system"),
        ("!!python/object:os.system {{}}", "!!python/object:os.system"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {{a, b}}", "!!set"),
        ("!include other.yaml", "!include"),
    ],
)
def test_unsafe_and_unknown_tags_are_refused_and_nothing_runs(
    tmp_path: Path, value: str, tag: str
) -> None:
    marker = tmp_path / "pwned"
    path = write(tmp_path, "version: 1\nimage: " + value.format(marker=marker) + "\n")
    with pytest.raises(RecipeError) as caught:
        load_yaml_file(path, "r.yaml")
    [diagnostic] = caught.value.diagnostics()
    assert diagnostic.message == f"the tag '{tag}' is not allowed"
    assert diagnostic.span is not None
    assert (diagnostic.span.line, diagnostic.span.col) == (2, 8)
    assert not marker.exists()


def test_python_tag_renders_with_position_and_hint() -> None:
    assert errors("a: 1\nrun: !!python/name:os.system\n") == [
        "r.yaml:2:6: error: the tag '!!python/name:os.system' is not allowed\n"
        "    2 | run: !!python/name:os.system\n"
        "      |      ^^^^^^^^^^^^^^^^^^^^^^^\n"
        "    hint: a recipe holds only text, numbers, true/false, lists and mappings; "
        "remove the tag (and put the value in quotes if it is text)"
    ]


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path: Path) -> None:
    text = "defaults:\n  size: 1024x1024\n  quality: low\n  n: 1\n  quality: high\n"
    with pytest.raises(RecipeError) as caught:
        load_yaml_file(write(tmp_path, text), "recipes/spring.yaml")
    assert [d.render() for d in caught.value.diagnostics()] == [
        "recipes/spring.yaml:5:3: error: duplicate key 'quality' (first defined on line 3)\n"
        "    5 |   quality: high\n"
        "      |   ^^^^^^^\n"
        "    hint: a key may appear only once in the same mapping; remove or rename one"
    ]


def test_every_problem_is_reported_at_once_in_source_order() -> None:
    text = "a: 1\nb: !!python/name:os.system\nc: {x: 1, x: 2}\na: 3\n"
    with pytest.raises(RecipeError) as caught:
        load_yaml(text, "r.yaml")
    assert [d.headline() for d in caught.value.diagnostics()] == [
        "r.yaml:2:4: error: the tag '!!python/name:os.system' is not allowed",
        "r.yaml:3:11: error: duplicate key 'x' (first defined on line 3)",
        "r.yaml:4:1: error: duplicate key 'a' (first defined on line 1)",
    ]


def test_tab_indentation_gets_the_tab_hint() -> None:
    assert errors("defaults:\n  size: 1024x1024\n\tquality: low\n") == [
        "r.yaml:3:1: error: a line is indented with a tab\n"
        "    3 |  quality: low\n"
        "      | ^\n"
        "    hint: YAML does not allow tabs for indentation; use spaces"
    ]


def test_a_pasted_non_breaking_space_is_named_on_its_own_line() -> None:
    # PyYAML trips over the line after it; the culprit is invisible in an editor.
    text = "matrix:\n  product: [a]\n\u00a0 season: [b]\n  market: [c]\n"
    [rendered] = errors(text)
    assert rendered.startswith(
        "r.yaml:3:1: error: a line is indented with a non-breaking space (U+00A0), not a space\n"
    )
    assert "ordinary spaces" in rendered


def test_unquoted_template_that_parses_as_a_mapping_gets_the_quote_hint() -> None:
    assert errors("version: 1\nimage: {{ product.image }}\n") == [
        "r.yaml:2:8: error: this value starts with {{, so YAML reads it as a mapping, "
        "not a template\n"
        "    2 | image: {{ product.image }}\n"
        "      |        ^^^^^^^^^^^^^^^^^^^\n"
        '    hint: a value that starts with {{ must be quoted: prompt: "{{ product.name }} ..."'
    ]


def test_unquoted_template_that_breaks_the_syntax_gets_the_quote_hint() -> None:
    assert errors("version: 1\nprompt: {{ product.name }} on {{ market.setting }}\n") == [
        "r.yaml:2:28: error: unexpected text after a value\n"
        "    2 | prompt: {{ product.name }} on {{ market.setting }}\n"
        "      |                            ^\n"
        '    hint: a value that starts with {{ must be quoted: prompt: "{{ product.name }} ..."'
    ]


@pytest.mark.parametrize(
    ("text", "headline"),
    [
        ("title: Sale: 20% off\n", "r.yaml:1:12: error: unexpected ':' in a value"),
        ("a: 'abc\nb: 2\n", "r.yaml:3:1: error: the quote opened on line 1 is never closed"),
        ("a: [1, 2\nb: 3\n", "r.yaml:2:2: error: the list opened with '[' on line 1 is not closed"),
        (
            "a:\n  b: 1\n c: 2\n",
            "r.yaml:3:2: error: this line is indented differently from the lines above it",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "r.yaml:2:1: error: the file holds more than one YAML document (a second '---')",
        ),
        (
            "a: \x07\n",
            "r.yaml:1:4: error: the file contains a character YAML does not allow (#x0007)",
        ),
    ],
)
def test_syntax_errors_are_explained_with_line_and_column(text: str, headline: str) -> None:
    with pytest.raises(RecipeError) as caught:
        load_yaml(text, "r.yaml")
    assert [d.headline() for d in caught.value.diagnostics()] == [headline]


def test_billion_laughs_is_refused_without_expanding() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    with pytest.raises(RecipeError) as caught:
        load_yaml("\n".join(lines) + "\n", "bomb.yaml")
    [diagnostic] = caught.value.diagnostics()
    expected = "the aliases (*name) in this file expand to more than 100,000 values"
    assert diagnostic.message == expected


def test_recursive_alias_is_refused() -> None:
    assert errors("a: &loop [1, *loop]\n")[0].startswith(
        "r.yaml:1:4: error: an alias refers to the list or mapping that contains it"
    )


def test_too_many_aliases_are_refused() -> None:
    text = "shared: &s [1]\n" + "".join(f"k{i}: *s\n" for i in range(MAX_ALIASES + 1))
    with pytest.raises(RecipeError) as caught:
        load_yaml(text, "r.yaml")
    assert caught.value.diagnostics()[0].message == "the file uses more than 500 aliases (*name)"


def test_ordinary_aliases_expand() -> None:
    doc = load_yaml("base: &b {size: 1024x1024}\none: *b\ntwo: *b\n", "r.yaml")
    size = {"size": "1024x1024"}
    assert doc.data == {"base": size, "one": size, "two": size}
    assert doc.data["one"] is not doc.data["two"]  # expanded copies, not shared objects


def test_merge_keys_are_refused() -> None:
    assert errors("base: &b {n: 1}\nother:\n  <<: *b\n")[0].startswith(
        "r.yaml:3:3: error: merge keys (<<: *name) are not supported"
    )


def test_absurd_nesting_is_refused() -> None:
    with pytest.raises(RecipeError) as caught:
        load_yaml("a: " + "[" * 3000 + "]" * 3000 + "\n", "r.yaml")
    assert "nested more than 200 levels deep" in caught.value.diagnostics()[0].message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_document_is_a_clear_error(text: str) -> None:
    assert errors(text) == ["r.yaml: error: the file is empty (it holds no YAML document)"]


def test_positions_of_values_and_keys_are_recorded(tmp_path: Path) -> None:
    text = "version: 1\nmatrix:\n  season: [spring, summer]\n  product:\n    - { sku: MUG-01 }\n"
    doc = load_yaml_file(write(tmp_path, text), "r.yaml")
    assert isinstance(doc, LoadedDocument)
    assert doc.source.values[("matrix", "season", 1)] == (2, 19, 2, 25)
    assert doc.source.keys[("matrix", "season")] == (2, 2, 2, 8)
    span = doc.source.span(("matrix", "product", 0, "sku"))
    assert span is not None
    assert (span.line, span.col, span.end_col) == (5, 14, 20)
    key_span = doc.source.span(("matrix", "product", 0, "sku"), key=True)
    assert key_span is not None and (key_span.line, key_span.col) == (5, 9)


def test_file_problems_are_recipe_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as missing:
        load_yaml_file(tmp_path / "nope.yaml", "nope.yaml")
    assert missing.value.diagnostics()[0].headline() == "nope.yaml: error: file not found"
    with pytest.raises(RecipeError) as folder:
        load_yaml_file(tmp_path, "recipes")
    assert folder.value.diagnostics()[0].message == "this is a folder, not a file"
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(RecipeError) as encoding:
        load_yaml_file(latin1, "latin1.yaml")
    [diagnostic] = encoding.value.diagnostics()
    assert diagnostic.message == "the file is not UTF-8 text (byte 0xe9 on line 1)"
    assert diagnostic.hint is not None and "UTF-8" in diagnostic.hint


def test_byte_order_mark_does_not_shift_columns(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: x\n")
    doc = load_yaml_file(path)
    assert doc.data == {"name": "x"}
    assert doc.source.values[("name",)] == (0, 6, 0, 7)


def test_display_name_defaults_to_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, "a: [\n")
    with pytest.raises(RecipeError) as caught:
        load_yaml_file(path)
    assert caught.value.diagnostics()[0].headline().startswith(f"{path}:")


def test_api_key_is_never_echoed_in_a_syntax_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMIN_API_KEY", "sk-very-secret-123")
    [rendered] = errors("prompt: sk-very-secret-123: oops\n")
    assert "sk-very-secret-123" not in rendered
    assert "********" in rendered


def test_a_large_list_loads() -> None:
    text = "items:\n" + "".join(f"  - {i}\n" for i in range(100_000))
    doc = load_yaml(text, "big.yaml")
    assert len(doc.data["items"]) == 100_000
    assert doc.data["items"][-1] == 99_999
    assert doc.source.values[("items", 99_999)] == (100_000, 4, 100_000, 9)
