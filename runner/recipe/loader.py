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
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from runner.apikey import redact
from runner.diagnostics import Diagnostic, RecipeError, Span
from runner.recipe.model import NodePath, SourceMap

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

TAB_HINT = "YAML does not allow tabs for indentation; use spaces"
TEMPLATE_HINT = 'a value that starts with {{ must be quoted: prompt: "{{ product.name }} ..."'
# An unquoted value (after `key:` or `- `) that starts with `{{`.
_UNQUOTED_TEMPLATE = re.compile(r"^\s*(?:-\s+)*(?:[^\s'\"#{\[][^#]*?:\s+)?\{\{")


@dataclass(frozen=True)
class LoadedDocument:
    """A YAML document as plain Python values, plus where each of them came from."""

    data: Any
    source: SourceMap


class FileProblem(Exception):
    """A file cannot be read safely; `message` reads well after "the file"."""

    def __init__(self, message: str, hint: str | None = None, *, kind: str = "other") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind  # "missing", "folder", "large" or "other"


def read_bounded(path: Path, max_bytes: int, too_large_hint: str | None = None) -> bytes:
    """A regular file's bytes, refused before reading when it is larger than `max_bytes`.

    Checking the size first keeps a huge file (or /dev/zero, a pipe) from filling the memory
    or blocking forever. Raises FileProblem.
    """
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise FileProblem("is a folder, not a file", kind="folder")
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(
                "is not a regular file (it is a device, a pipe or a socket)",
                "give the path of an ordinary file",
            )
        if info.st_size > max_bytes:
            raise FileProblem(_too_large(info.st_size, max_bytes), too_large_hint, kind="large")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        hint = "check the path and the spelling"
        raise FileProblem("does not exist", hint, kind="missing") from None
    except PermissionError:
        raise FileProblem(
            "cannot be read (permission denied)", "check the file's permissions"
        ) from None
    except OSError as exc:
        raise FileProblem(f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew after the check
        raise FileProblem(_too_large(len(data), max_bytes), too_large_hint, kind="large")
    return data


def _too_large(size: int, limit: int) -> str:
    return f"is too large ({_megabytes(size)}; the limit is {_megabytes(limit)})"


def _megabytes(size: int) -> str:
    mebibyte = 1024 * 1024
    return f"{size / mebibyte:,.1f} MB" if size >= mebibyte else f"{size:,} bytes"


def load_yaml_file(
    path: Path,
    display: str | None = None,
    *,
    max_bytes: int = MAX_RECIPE_BYTES,
    too_large_hint: str | None = None,
) -> LoadedDocument:
    """Read and load a YAML file; any problem (unreadable, not UTF-8, bad YAML) is a RecipeError."""
    shown = display if display is not None else str(path)
    try:
        raw = read_bounded(path, max_bytes, too_large_hint)
    except FileProblem as problem:
        message = {"missing": "file not found", "folder": "this is a folder, not a file"}.get(
            problem.kind, f"the file {problem.message}"
        )
        raise _file_error(shown, message, problem.hint) from None
    return load_yaml(decode_yaml(raw, shown), shown)


def decode_yaml(raw: bytes, shown: str) -> str:
    """A YAML file's text; a file that is not UTF-8 is a RecipeError naming the bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _file_error(
            shown,
            f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})",
            "save the file with UTF-8 encoding (most editors offer it in 'Save as')",
        ) from None


def load_yaml(text: str, file: str) -> LoadedDocument:
    """Load one YAML document from text; every problem found is raised in one RecipeError."""
    text = text.removeprefix("\ufeff")
    # Composing allocates many objects and no cycles; pausing the garbage collector makes a
    # large file load several times faster.
    collecting = gc.isenabled()
    gc.disable()
    try:
        node = _compose(text, file)
        if node is None:
            raise _file_error(file, "the file is empty (it holds no YAML document)", None)
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
    from yaml._yaml import CParser

    class _CComposer(CParser, _Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver.__init__(self)

    return _CComposer(text)


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
        raise RecipeError([_syntax_diagnostic(exc, file, text)]) from None
    except yaml.reader.ReaderError as exc:
        raise RecipeError([_reader_diagnostic(exc, file, text)]) from None
    except yaml.YAMLError as exc:
        raise _file_error(file, f"invalid YAML: {exc}", None) from None
    except RecursionError:
        raise _too_deep(file) from None


def _too_deep(file: str) -> RecipeError:
    return _file_error(file, f"the file is nested more than {MAX_DEPTH} levels deep", None)


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
        self.lines = text.splitlines()
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
        span = _span(self.file, self.text, mark[0], mark[1], end)
        self.diagnostics.append(Diagnostic(message, span=span, hint=hint))

    def refuse(self, node: Node, message: str, hint: str | None = None) -> _Refused:
        start = node.start_mark
        span = _span(self.file, self.text, start.line, start.column, None)
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
        if tag == STR_TAG:
            return text
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


# --- diagnostics -----------------------------------------------------------------------------


def _file_error(file: str, message: str, hint: str | None) -> RecipeError:
    return RecipeError([Diagnostic(message, hint=hint, file=file)])


def _span(file: str, text: str, line: int, col: int, end_col: int | None) -> Span:
    """A Span from 0-based positions; without an end, it covers one character."""
    lines = text.splitlines() or [""]
    source = redact(lines[line]) if line < len(lines) else ""
    end = end_col if end_col is not None and end_col > col else col + 1
    return Span(file, line + 1, col + 1, end + 1, source)


def _line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line] if 0 <= line < len(lines) else ""


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    problem = exc.problem or exc.context or "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    context_line = exc.context_mark.line if exc.context_mark is not None else line
    message, hint = _explain(problem, exc.context or "", context_line + 1)
    for candidate in (line, context_line):
        source = _line(text, candidate)
        if "\t" in source[: len(source) - len(source.lstrip())]:
            message, hint = "a line is indented with a tab", TAB_HINT
            if candidate != line:
                line, col = candidate, 0
            break
        if _UNQUOTED_TEMPLATE.match(source):
            hint = TEMPLATE_HINT
            break
    return Diagnostic(message, span=_span(file, text, line, col, None), hint=hint)


def _explain(problem: str, context: str, context_line: int) -> tuple[str, str | None]:
    """PyYAML's parser wording, in words a recipe author can act on."""
    if "'\\t'" in problem or "tab" in problem:
        return "a line is indented with a tab", TAB_HINT
    if problem.startswith("mapping values are not allowed"):
        return (
            "unexpected ':' in a value",
            'put the value in quotes when it contains ": ", e.g. title: "Sale: 20% off"',
        )
    if "could not find expected ':'" in problem:
        return (
            "expected a 'key: value' line",
            "check for a missing ':' after a key or a quote that is never closed",
        )
    if "<block mapping start>" in problem or "<block sequence start>" in problem:
        return (
            "this line is indented differently from the lines above it",
            "keys at the same level must start in the same column",
        )
    if problem.startswith("expected <block end>"):
        return (
            "unexpected text after a value",
            "check the indentation, or put the whole value in quotes",
        )
    if "end of stream" in problem and "quoted scalar" in context:
        return (f"the quote opened on line {context_line} is never closed", "add the closing quote")
    for opener, closer, what in (("[", "]", "list"), ("{", "}", "mapping")):
        if f"'{closer}'" in problem and "flow" in context:
            return (
                f"the {what} opened with '{opener}' on line {context_line} is not closed",
                f"add the missing ',' or '{closer}'",
            )
    if "another document" in problem:
        return (
            "the file holds more than one YAML document (a second '---')",
            "a recipe is a single document; remove the extra '---'",
        )
    return f"invalid YAML: {problem}", None


def _reader_diagnostic(exc: yaml.reader.ReaderError, file: str, text: str) -> Diagnostic:
    position = max(0, min(exc.position, len(text)))
    line = text.count("\n", 0, position)
    col = position - (text.rfind("\n", 0, position) + 1)
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
    return Diagnostic(
        f"the file contains a character YAML does not allow (#x{code:04x})",
        span=_span(file, text, line, col, None),
        hint="remove it (it is often an invisible control character pasted from elsewhere)",
    )
