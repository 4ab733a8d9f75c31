"""Nothing Backdrop prints can start a GitHub Actions workflow command, except its own annotations.

The runner's rules are ported in tests/actions_runner.py (checked here against the runner's own
unit tests); the guard under stdout and stderr is fed every payload, cut every way.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.commands import github
from runner.commands.streams import GuardedStream, guarded_stdio, write_workflow_commands
from runner.printable import (
    CommandGuard,
    defang_commands,
    inert,
    json_printable,
    one_line,
    printable,
)
from tests.actions_runner import REGISTERED, Runner, commands_in, parse_legacy, parse_v2

# Each line would be a command to the runner if printed as it is.
PAYLOADS = (
    "x\n::error file=evil.py,line=1::INJECTED",
    "\n::stop-commands::tok",
    "##[warning]INJECTED",
    "x\r::warning file=evil.py::INJECTED",
    "x\r\n::notice::INJECTED",
    "\n  \t::add-mask::INJECTED",
    "\n\u00a0\u2003\u3000::set-output name=a::INJECTED",
    "\n\u0085::error::NEL",  # .NET trims NEL (it is no line break for ReadLine)
    "\n\u2028::error::LS",
    "\n\u200b::error::ZWSP",  # ignorable: ICU's StartsWith("::") skips it
    "\n:\u200b:error::ZWSP",
    "a #\u200b#[warning]INJECTED",
    "a ##\u00ad[error]SHY",
    "\n::group::INJECTED\n::endgroup::",
    "\n::ERROR::upper case",
)
# Azure Pipelines' logging commands, read anywhere in a line as the runner's legacy form is.
AZURE = ("##vso[task.setvariable variable=X]INJECTED", "a ##VsO[task.prependpath]INJECTED")
HOSTILE = "".join(PAYLOADS + AZURE)


def _guarded(*pieces: str) -> str:
    sink = io.StringIO()
    stream = GuardedStream(sink)  # type: ignore[arg-type]
    for piece in pieces:
        stream.write(piece)
    return sink.getvalue()


# --- the port of the runner's parser, against the runner's own tests ---------------------------


def test_the_port_parses_the_runners_own_legacy_cases() -> None:
    commands = {"do-something"}
    # src/Test/L0/Worker/ActionCommandL0.cs, CommandParserTest
    parsed = parse_legacy("##[do-something k1=v1;]msg", commands)
    assert parsed and parsed.data == "msg" and parsed.prop("k1") == "v1"
    parsed = parse_legacy("##[do-something k1=%3B=%0D=%0A=%5D;]%3B-%0D-%0A-%5D", commands)
    assert parsed and parsed.data == ";-\r-\n-]" and parsed.prop("k1") == ";=\r=\n=]"
    parsed = parse_legacy(">>>   ##[do-something k1=v1;]msg", commands)  # anywhere in the line
    assert parsed and parsed.data == "msg"
    assert parse_legacy("##[something-else]x", commands) is None


def test_the_port_parses_the_runners_own_v2_cases() -> None:
    commands = {"do-something"}
    # src/Test/L0/Worker/ActionCommandL0.cs, CommandParserV2Test
    parsed = parse_v2("::do-something k1=v1,::msg", commands)
    assert parsed and parsed.data == "msg" and parsed.prop("k1") == "v1"
    parsed = parse_v2("::do-something k1=;=%2C=%0D=%0A=]=%3A,::;-%0D-%0A-]-:-,", commands)
    assert parsed and parsed.data == ";-\r-\n-]-:-," and parsed.prop("k1") == ";=,=\r=\n=]=:"
    parsed = parse_v2("   ::do-something k1=v1,::msg", commands)
    assert parsed and parsed.data == "msg"
    assert parse_v2("   >>>   ::do-something k1=v1,::msg", commands) is None


def test_the_port_stops_and_resumes_like_the_runner() -> None:
    runner = Runner().feed("::stop-commands::tok\n::error::hidden\n##[warning]hidden\n::tok::\n")
    runner.feed("::warning::seen\n")
    assert [c.name for c in runner.commands] == ["stop-commands", "tok", "warning"]


def test_every_payload_is_a_command_when_printed_raw() -> None:
    """The payloads are real attacks: the port (lenient where ICU would be) sees each one."""
    for payload in PAYLOADS:
        assert commands_in(payload), payload


# --- the guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_survives_printable_or_the_stream_guard(payload: str) -> None:
    assert commands_in(printable(payload)) == []
    assert commands_in("  " + one_line(payload)) == []
    assert commands_in(_guarded(payload)) == []
    assert commands_in(_guarded(*payload)) == []  # one character per write


@pytest.mark.parametrize("payload", AZURE)
def test_no_azure_logging_command_survives_either(payload: str) -> None:
    for shown in (printable(payload), one_line(payload), _guarded(payload), _guarded(*payload)):
        assert "##vso[" not in shown.lower()


def test_the_guard_sees_a_command_cut_across_writes() -> None:
    assert _guarded("ab #", "#", "[warning]x\n", ":", ":error::x\n") == (
        "ab ##\\u005bwarning]x\n:\\u003aerror::x\n"
    )
    assert (
        commands_in(_guarded("#", "\u200b", "#vs", "o[x]\n", "  \u2003", ":", "\u200b:e::\n")) == []
    )


def test_what_the_guard_changes_is_shown_and_nothing_else_is() -> None:
    text = "plain: text, a # sign, a [link], 10:30 and :: in the middle\n"
    assert _guarded(text) == text
    assert printable(text) == text
    assert defang_commands("::x::y") == ":\\x3ax::y"


def test_json_through_the_guard_is_the_same_json() -> None:
    value = {"label": HOSTILE + "\x1b]0;t\x07\u202e", "n": 1}
    text = json.dumps(value, ensure_ascii=False, indent=2)
    assert json.loads(_guarded(text)) == value
    assert json.loads(_guarded(*text)) == value
    assert json.loads(json_printable(text)) == value
    assert commands_in(_guarded(text)) == commands_in(json_printable(text)) == []


def test_the_guard_writes_control_characters_out_and_lets_rich_style() -> None:
    sink = io.StringIO()
    stream = GuardedStream(sink)  # type: ignore[arg-type]
    stream.write("a\x1b]0;TITLE\x07b\x1b[31mc\rd\te\n")
    stream.styled.write("\x1b[1mbold\x1b[0m\r\x1b[2K\x1b]0;TITLE\x07\n")
    assert sink.getvalue() == (
        "a\\u001b]0;TITLE\\u0007b\\u001b[31mc\\u000dd\te\n\x1b[1mbold\x1b[0m\r\x1b[2K\\u001b]0;TITLE\\u0007\n"
    )


_HOSTILE_ALPHABET = st.sampled_from(
    list(":#[]vsoVSO \t\r\n\u0085\u00a0\u2028\u2029\u200b\u00ad\u2060\ufeff\x1b\x00ax=,%")
)


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(_HOSTILE_ALPHABET, max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
)
def test_no_text_cut_any_way_starts_a_command_through_the_guard(text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(min(cut, len(text)) for cut in cuts)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    out = _guarded(*pieces)
    assert commands_in(out) == []
    assert _guarded(text) == out  # the cuts change nothing


@settings(max_examples=200, deadline=None)
@given(text=st.text(_HOSTILE_ALPHABET, max_size=60))
def test_no_text_starts_a_command_through_printable(text: str) -> None:
    assert commands_in(printable(text)) == []
    assert commands_in(one_line(text)) == []


_RAW_CONTROL = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        st.one_of(
            st.characters(max_codepoint=0x2FF),
            st.sampled_from(list("\u061c\u200e\u2028\u202e\u2066\u2069\u3000日\U0001f600")),
        ),
        max_size=40,
    )
)
def test_no_control_character_passes_whichever_check_runs(text: str) -> None:
    """The guard answers "any control character?" in C (latin-1 bytes, else isprintable), and
    skips its regular expression when the answer is no: the answer must never be wrong."""
    for shown in (inert(text), printable(text), json_printable(text), one_line(text)):
        assert not re.search(_RAW_CONTROL, shown), (text, shown)


# --- Backdrop's own annotations ----------------------------------------------------------------


def test_own_annotations_escape_exactly_as_the_toolkit() -> None:
    # actions/toolkit packages/core/__tests__/command.test.ts
    message = github.Annotation("error", "percent % percent % cr \r cr \r lf \n lf \n")
    assert message.command() == "::error::percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A"
    literal = github.Annotation("error", "%25 %25 %0D %0D %0A %0A %3A %3A %2C %2C")
    assert (
        literal.command() == "::error::%2525 %2525 %250D %250D %250A %250A %253A %253A %252C %252C"
    )
    title = "percent % percent % cr \r cr \r lf \n lf \n colon : colon : comma , comma ,"
    assert github.Annotation("notice", "", title=title).command() == (
        "::notice title=percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A colon %3A colon %3A"
        " comma %2C comma %2C::"
    )
    assert github.Annotation("warning", "m", file="", title="").command() == "::warning::m"


def test_own_annotations_reach_the_runner_whole_and_alone() -> None:
    annotation = github.Annotation(
        "error", HOSTILE + "\x1b]0;TITLE\x07", file="recipes/a,b:c.yaml", line=3, title="T"
    )
    sink = io.StringIO()
    stream = GuardedStream(sink)  # type: ignore[arg-type]
    stream.write("a partial line: ")
    stream.write_workflow_command(annotation.command())
    stream.write(HOSTILE)
    found = commands_in(sink.getvalue())
    assert len(found) == 1
    (command,) = found
    assert command.name == "error" and command.prop("file") == "recipes/a,b:c.yaml"
    assert command.data.startswith("x\n::error file=evil.py,line=1::INJECTED\n::stop-commands")
    assert command.data.endswith("\\x1b]0;TITLE\\x07")  # the terminal escape written out
    assert "\x1b" not in sink.getvalue()


def test_only_well_formed_annotations_pass_unguarded(capsys: pytest.CaptureFixture[str]) -> None:
    for line in ("::add-mask::x", "::error::a\nb", "::error::\x1b]0;t\x07", "x ::error::y"):
        with pytest.raises(ValueError, match="not an annotation Backdrop writes"):
            write_workflow_commands([line])
    write_workflow_commands([github.Annotation("notice", "fine").command()])
    assert capsys.readouterr().out == "::notice::fine\n"


def test_annotations_go_to_the_guarded_stdout_past_whatever_sits_on_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rich's live display puts its own proxy on sys.stdout, which wraps long lines."""
    seen: list[str] = []

    class Proxy(io.StringIO):
        def write(self, text: str) -> int:
            seen.append(text)
            return len(text)

    with guarded_stdio():
        guarded = sys.stdout
        sys.stdout = Proxy()
        try:
            write_workflow_commands([github.Annotation("notice", "x" * 300).command()])
        finally:
            sys.stdout = guarded
        with pytest.raises(ValueError, match="not an annotation"):
            guarded.write_workflow_command("::add-mask::x")  # type: ignore[attr-defined]
    assert capsys.readouterr().out == "::notice::" + "x" * 300 + "\n"
    assert seen == []


def test_the_registered_commands_are_the_runners() -> None:
    assert {"error", "warning", "notice", "stop-commands", "add-mask", "set-output"} <= REGISTERED


def test_the_guard_remembers_little() -> None:
    guard = CommandGuard()
    guard.feed("x" * 100_000 + "#")
    assert guard.feed("#[") == "#\\u005b"
