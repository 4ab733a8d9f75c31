"""The project's one YAML reader: safe, YAML 1.2 scalars, no duplicate keys, every position kept.

PyYAML only composes the node graph here (nothing is ever constructed from a tag), and this
module turns nodes into plain Python values itself. That is what lets it refuse unknown tags,
duplicate keys and alias bombs, read `NO` / `yes` / `on` as the strings people typed, and record
where every key and value came from.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from runner.diagnostics import Diagnostic, RecipeError, source_lines
from runner.recipe.files import FileProblem, read_bounded, read_project_file
from runner.recipe.model import NodePath, SourceMap
from runner.recipe.yaml_errors import (
    TEMPLATE_HINT,
    file_error,
    reader_diagnostic,
    span_at,
    syntax_diagnostic,
)

# Aliases may add at most this many values beyond those written out ("billion laughs").
MAX_ALIAS_NODES = 100_000
MAX_ALIASES = 500
MAX_DEPTH = 200  # nesting levels; real recipes use fewer than ten
# Checked before reading: a recipe is a short text file, data files may be bigger.
MAX_RECIPE_BYTES = 1024 * 1024
MAX_DATA_BYTES = 50 * 1024 * 1024

_YAML_TAG = "tag:yaml.org,2002:"
STR_TAG = _YAML_TAG + "str"
INT_TAG = _YAML_TAG + "int"
FLOAT_TAG = _YAML_TAG + "float"
BOOL_TAG = _YAML_TAG + "bool"
NULL_TAG = _YAML_TAG + "null"
SEQ_TAG = _YAML_TAG + "seq"
MAP_TAG = _YAML_TAG + "map"
_SCALAR_TAGS = frozenset({STR_TAG, INT_TAG, FLOAT_TAG, BOOL_TAG, NULL_TAG})

# YAML 1.2 core schema, minus the forms that surprise people: numbers with leading zeros
# (zip codes, SKUs), hex/octal and `1_000` stay text, as do 1.1's yes/no/on/off and `1:20`.
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# `.inf` and `.nan` stay text: a price of `.nan` must be refused, not silently compare false.
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_MAYBE_TYPED = frozenset("-+.0123456789tTfFnN~")
# Python's own cap on reading integers (sys.get_int_max_str_digits) is 4,300; stay well below.
MAX_NUMBER_DIGITS = 1000


def _is_encodable(text: str) -> bool:
    """False for text holding lone surrogates (from \\ud800 escapes): no file or API takes them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class LoadedDocument:
    """A YAML document as plain Python values, plus where each of them came from."""

    data: Any
    source: SourceMap


def load_yaml_file(
    path: Path,
    display: str | None = None,
    *,
    max_bytes: int = MAX_RECIPE_BYTES,
    too_large_hint: str | None = None,
    confined: tuple[Sequence[Path], str] | None = None,
) -> LoadedDocument:
    """Read and load a YAML file; any problem (unreadable, not UTF-8, bad YAML) is a RecipeError.

    confined: (the project folders, the hint when a link leads out of them): such a file is
    refused unread (read_project_file), so that no error ever quotes what lies outside.
    """
    shown = display if display is not None else str(path)
    raw = read_yaml_bytes(path, shown, max_bytes, too_large_hint, confined)
    return load_yaml(decode_yaml(raw, shown), shown)


def read_yaml_bytes(
    path: Path,
    shown: str,
    max_bytes: int,
    too_large_hint: str | None = None,
    confined: tuple[Sequence[Path], str] | None = None,
) -> bytes:
    """The bytes of a YAML file (see load_yaml_file); a file that cannot be read is a
    RecipeError."""
    try:
        if confined is None:
            raw = read_bounded(path, max_bytes, too_large_hint)
        else:
            roots, linked = confined
            raw = read_project_file(
                path, roots, max_bytes, linked=linked, too_large_hint=too_large_hint
            )
    except FileProblem as problem:
        message = {"missing": "file not found", "folder": "this is a folder, not a file"}.get(
            problem.kind, f"the file {problem.message}"
        )
        raise file_error(shown, message, problem.hint) from None
    return raw


def decode_yaml(raw: bytes, shown: str) -> str:
    """A YAML file's text; a file that is not UTF-8 is a RecipeError naming the bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise file_error(
            shown,
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})",
            "save the file with UTF-8 encoding (most editors offer it in 'Save as')",
        ) from None


def load_yaml(text: str, file: str) -> LoadedDocument:
    """Load one YAML document from text; every problem found is raised in one RecipeError."""
    text = text.removeprefix("\ufeff")
    if not _is_encodable(text):
        raise RecipeError([_surrogate_in_text(text, file)])
    # Composing allocates many objects and no cycles; pausing the garbage collector makes a
    # large file load several times faster.
    collecting = gc.isenabled()
    gc.disable()
    try:
        node = _compose(text, file)
        if node is None:
            raise file_error(file, "the file is empty (it holds no YAML document)", None)
        builder = _Builder(file, text)
        try:
            data = builder.value(node, ())
        except _Refused as refused:
            raise RecipeError([refused.diagnostic]) from None
    finally:
        if collecting:
            gc.enable()
    source = SourceMap(file=file, text=text, values=builder.values, keys=builder.keys)
    if builder.diagnostics:
        raise RecipeError(builder.diagnostics)
    return LoadedDocument(data=data, source=source)


# --- composing -------------------------------------------------------------------------------


class _Resolver(BaseResolver):
    """Tags plain scalars by YAML 1.2 rules; quoted scalars are always text."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return resolve_plain(value) if implicit[0] else STR_TAG
        return SEQ_TAG if kind is SequenceNode else MAP_TAG


def resolve_plain(value: str) -> str:
    """The tag of a plain (unquoted) scalar."""
    if value and value[0] not in _MAYBE_TYPED:
        return STR_TAG
    if _NULL.fullmatch(value):
        return NULL_TAG
    if _BOOL.fullmatch(value):
        return BOOL_TAG
    if _INT.fullmatch(value):
        return INT_TAG
    if _FLOAT.fullmatch(value):
        return FLOAT_TAG
    return STR_TAG


class _PyComposer(Reader, Scanner, Parser, Composer, _Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)


def _c_composer(text: str) -> Any:
    return _c_composer_class()(text)


@cache
def _c_composer_class() -> type:
    """libyaml's parser with our resolver, made once: a class statement per load cost ~20 us,
    an eighth of composing a short recipe."""
    from yaml._yaml import CParser

    class _CComposer(CParser, _Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver.__init__(self)

    return _CComposer


def _compose(text: str, file: str) -> Node | None:
    """The node graph of the single document in `text` (None when empty)."""
    if yaml.__with_libyaml__:
        try:
            return _compose_with(_c_composer(text))
        except yaml.MarkedYAMLError as exc:
            if "nesting depth" in str(exc.problem):
                raise _too_deep(file) from None
            # Otherwise compose again in Python: its error messages are clearer.
        except (yaml.YAMLError, RecursionError):
            pass
    try:
        return _compose_with(_PyComposer(text))
    except yaml.MarkedYAMLError as exc:
        raise RecipeError([syntax_diagnostic(exc, file, text)]) from None
    except yaml.reader.ReaderError as exc:
        raise RecipeError([reader_diagnostic(exc, file, text)]) from None
    except yaml.YAMLError as exc:
        raise file_error(file, f"invalid YAML: {exc}", None) from None
    except RecursionError:
        raise _too_deep(file) from None


def _surrogate_in_text(text: str, file: str) -> Diagnostic:
    position = next(i for i, char in enumerate(text) if 0xD800 <= ord(char) <= 0xDFFF)
    line = text.count("\n", 0, position)
    col = position - (text.rfind("\n", 0, position) + 1)
    return Diagnostic(
        "the text holds an invalid character (a lone surrogate)",
        span=span_at(file, text.encode("utf-8", "replace").decode("utf-8"), line, col, None),
        hint="save the file again as UTF-8",
    )


def _too_deep(file: str) -> RecipeError:
    return file_error(file, f"the file is nested more than {MAX_DEPTH} levels deep", None)


def _compose_with(composer: Any) -> Node | None:
    try:
        node: Node | None = composer.get_single_node()
        return node
    finally:
        composer.dispose()


# --- building values -------------------------------------------------------------------------


def _mark(node: Node) -> tuple[int, int, int, int]:
    start, end = node.start_mark, node.end_mark
    return (start.line, start.column, end.line, end.column)


def show_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


class _Refused(Exception):
    """The document is too big or too deep to build; carries the one diagnostic to show."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Builder:
    """Turns a node graph into plain values, recording positions and problems.

    Aliases share nodes in the graph; building expands them, so the builder counts what each
    expansion adds and stops a "billion laughs" document long before memory runs out.
    """

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.lines = source_lines(text)
        self.values: dict[NodePath, tuple[int, int, int, int]] = {}
        self.keys: dict[NodePath, tuple[int, int, int, int]] = {}
        self.diagnostics: list[Diagnostic] = []
        self.seen: set[int] = set()  # lists and mappings built at least once
        self.active: set[int] = set()  # lists and mappings being built (to catch cycles)
        self.aliases = 0
        self.repeated = 0  # values added by expanding aliases

    def error(self, node: Node, message: str, hint: str | None = None) -> None:
        mark = _mark(node)
        end = mark[3] if mark[2] == mark[0] else None
        span = span_at(self.file, self.text, mark[0], mark[1], end)
        self.diagnostics.append(Diagnostic(message, span=span, hint=hint))

    def refuse(self, node: Node, message: str, hint: str | None = None) -> _Refused:
        start = node.start_mark
        span = span_at(self.file, self.text, start.line, start.column, None)
        return _Refused(Diagnostic(message, span=span, hint=hint))

    def value(self, node: Node, path: NodePath, repeat: bool = False) -> Any:
        self.values[path] = _mark(node)
        if repeat:
            self.repeated += 1
            if self.repeated > MAX_ALIAS_NODES:
                raise self.refuse(
                    node,
                    f"the aliases (*name) in this file expand to more than "
                    f"{MAX_ALIAS_NODES:,} values",
                    "a file must not multiply itself through aliases; write the values out",
                )
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if len(path) > MAX_DEPTH:
            raise self.refuse(node, f"the file is nested more than {MAX_DEPTH} levels deep")
        identity = id(node)
        if identity in self.active:
            raise self.refuse(
                node,
                "an alias refers to the list or mapping that contains it, so it never ends",
                "remove the alias (*name) or point it at another anchor",
            )
        if identity in self.seen:
            if not repeat:
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise self.refuse(
                        node,
                        f"the file uses more than {MAX_ALIASES} aliases (*name)",
                        "write the values out instead of repeating aliases",
                    )
            repeat = True
        self.seen.add(identity)
        self.active.add(identity)
        try:
            return self.collection(node, path, repeat)
        finally:
            self.active.discard(identity)

    def collection(self, node: Node, path: NodePath, repeat: bool) -> Any:
        if isinstance(node, SequenceNode):
            if node.tag != SEQ_TAG:
                return self.bad_tag(node)
            return [
                self.value(item, (*path, index), repeat) for index, item in enumerate(node.value)
            ]
        if isinstance(node, MappingNode):
            if node.tag != MAP_TAG:
                return self.bad_tag(node)
            if self.starts_with_template(node):
                self.error(
                    node,
                    "this value starts with {{, so YAML reads it as a mapping, not a template",
                    TEMPLATE_HINT,
                )
                return None
            return self.mapping(node, path, repeat)
        return None  # pragma: no cover - composers only produce the three node kinds

    def mapping(self, node: MappingNode, path: NodePath, repeat: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node)
            if key is None:
                continue
            if key in first_line:
                self.error(
                    key_node,
                    f"duplicate key '{key}' (first defined on line {first_line[key]})",
                    "a key may appear only once in the same mapping; remove or rename one",
                )
                continue
            first_line[key] = key_node.start_mark.line + 1
            self.keys[(*path, key)] = _mark(key_node)
            out[key] = self.value(value_node, (*path, key), repeat)
        return out

    def key(self, node: Node) -> str | None:
        if not isinstance(node, ScalarNode):
            self.error(node, "a key must be plain text, not a list or a mapping")
            return None
        if not _is_encodable(node.value):
            self.error(node, "this key holds an invalid character (a lone surrogate)")
            return None
        if node.tag not in _SCALAR_TAGS:
            self.bad_tag(node)
            return None
        if node.value == "<<" and not node.style:  # plain: None in Python, "" from libyaml
            self.error(
                node,
                "merge keys (<<: *name) are not supported",
                "write the keys out in this mapping instead",
            )
            return None
        return str(node.value)

    def scalar(self, node: ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if not _is_encodable(text):
            # Worded as the template pass words it, so that one mistake reads the same anywhere.
            what = "template" if "{{" in text or "{%" in text else "text"
            code = next(f"U+{ord(c):04X}" for c in text if 0xD800 <= ord(c) <= 0xDFFF)
            self.error(
                node,
                f"the {what} contains an invalid character ({code}, half of a pair that "
                "Unicode needs whole)",
                "remove the escape that makes it (such as \\ud800), or write the character itself",
            )
            return None
        if tag == STR_TAG:
            return text
        if tag == INT_TAG and len(text) > MAX_NUMBER_DIGITS:
            # Python refuses to read integers this long; no recipe value needs one.
            self.error(
                node,
                f"this number has {len(text):,} digits, more than the "
                f"{MAX_NUMBER_DIGITS:,} allowed",
                "put it in quotes if it is text (a code or an identifier)",
            )
            return None
        if tag == NULL_TAG and _NULL.fullmatch(text):
            return None
        if tag == BOOL_TAG and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if tag == INT_TAG and _INT.fullmatch(text.strip()):
            return int(text)
        if tag == FLOAT_TAG and _FLOAT.fullmatch(text.strip()):
            number = float(text)
            # `1e999` would be infinity: keep what was typed, so the schema can refuse it.
            return number if math.isfinite(number) else text
        if tag in _SCALAR_TAGS:
            self.error(node, f"'{text}' cannot be read as {show_tag(tag)}", "remove the tag")
            return None
        return self.bad_tag(node)

    def bad_tag(self, node: Node) -> None:
        self.error(
            node,
            f"the tag '{show_tag(node.tag)}' is not allowed",
            "a recipe holds only text, numbers, true/false, lists and mappings; remove the tag "
            "(and put the value in quotes if it is text)",
        )

    def starts_with_template(self, node: MappingNode) -> bool:
        if not node.flow_style:
            return False
        line = node.start_mark.line
        text = self.lines[line] if line < len(self.lines) else ""
        return text[node.start_mark.column : node.start_mark.column + 2] == "{{"
