"""How the GitHub Actions runner reads a step's output, for tests: a port of its parsing rules.

From actions/runner (read, not copied): src/Runner.Sdk/ProcessInvoker.cs reads stdout and stderr
with StreamReader.ReadLine (a line ends at CR, LF or CR LF, nothing else);
src/Runner.Worker/Handlers/OutputManager.cs hands a line that contains "##[" or "::" to
src/Runner.Worker/ActionCommandManager.cs, which tries ActionCommand.TryParseV2 (the line,
TrimStart'ed of .NET white space, starts with "::"; the name runs to a space or the next "::")
and then ActionCommand.TryParse (the legacy "##[name k=v;]data", found anywhere in the line).
Only registered names are commands (case-insensitive); "stop-commands" makes every later command
but its token ignored until `::TOKEN::` (or `##[TOKEN]`) resumes.

The runner compares with the culture's rules (ICU), which skip default-ignorable characters;
`lenient=True` drops those characters before parsing, so that it finds every command ICU could
(and some it could not): a test that passes leniently passes for the real runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ActionCommandManager: "stop-commands" plus every IActionCommandExtension's Command.
REGISTERED = frozenset(
    {
        "stop-commands", "set-env", "set-output", "save-state", "add-mask", "add-path",
        "add-matcher", "remove-matcher", "debug", "warning", "error", "notice", "group",
        "endgroup", "echo",
    }
)  # fmt: skip
# Char.IsWhiteSpace: what String.TrimStart() and Trim() remove.
NET_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
NET_WHITESPACE += "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) and the controls ICU ignores.
_IGNORABLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
_LEGACY = (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%"))


@dataclass(frozen=True)
class Command:
    name: str
    properties: tuple[tuple[str, str], ...]
    data: str
    line: str

    def prop(self, name: str) -> str | None:
        return next((v for k, v in self.properties if k.lower() == name.lower()), None)


def lines_of(text: str) -> list[str]:
    """StreamReader.ReadLine: lines end at CR LF, CR or LF."""
    lines = re.split("\r\n|\r|\n", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _unescape(text: str, mappings: tuple[tuple[str, str], ...]) -> str:
    for escaped, raw in mappings:
        text = text.replace(escaped, raw)
    return text


def _pairs(
    text: str, separator: str, mappings: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    pairs = []
    for item in (part for part in text.split(separator) if part):
        pair = [half for half in item.split("=", 1) if half]
        if len(pair) == 2:
            pairs.append((pair[0], _unescape(pair[1], mappings)))
    return pairs


def parse_v2(line: str, registered: frozenset[str] | set[str]) -> Command | None:
    message = line.lstrip(NET_WHITESPACE)
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    if name.lower() not in {r.lower() for r in registered}:
        return None
    props = _pairs(info[space + 1 :].strip(NET_WHITESPACE), ",", _PROPERTY) if space > 0 else []
    return Command(name, tuple(props), _unescape(message[end + 2 :], _DATA), line)


def parse_legacy(line: str, registered: frozenset[str] | set[str]) -> Command | None:
    prefix = line.find("##[")
    if prefix < 0:
        return None
    bracket = line.find("]", prefix)
    if bracket < 0:
        return None
    info = line[prefix + 3 : bracket]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    if name.lower() not in {r.lower() for r in registered}:
        return None
    props = _pairs(info[space + 1 :], ";", _LEGACY) if space > 0 else []
    return Command(name, tuple(props), _unescape(line[bracket + 1 :], _LEGACY), line)


@dataclass
class Runner:
    """One step's command manager: feed it a stream's text; `commands` is what it acted on."""

    lenient: bool = False
    registered: set[str] = field(default_factory=lambda: set(REGISTERED))
    stop_token: str | None = None
    commands: list[Command] = field(default_factory=list)

    def feed(self, text: str) -> Runner:
        for line in lines_of(text):
            self.process(line)
        return self

    def process(self, line: str) -> None:
        if self.lenient:
            line = _IGNORABLE.sub("", line)
        if not line or ("##[" not in line and "::" not in line):
            return
        command = parse_v2(line, self.registered) or parse_legacy(line, self.registered)
        if command is None:
            return
        if self.stop_token is not None:  # only the token resumes
            if self.stop_token and command.name.lower() == self.stop_token.lower():
                self.registered.discard(self.stop_token)
                self.stop_token = None
                self.commands.append(command)
            return
        if command.name.lower() == "stop-commands":
            self.stop_token = command.data
            self.registered.add(command.data)
        self.commands.append(command)


def commands_in(*streams: str) -> list[Command]:
    """Every command the runner would act on in these streams (each read on its own, as the
    runner reads stdout and stderr), found strictly or leniently: the longer list."""
    found: list[Command] = []
    for text in streams:
        strict = Runner().feed(text).commands
        lenient = Runner(lenient=True).feed(text).commands
        found += lenient if len(lenient) > len(strict) else strict
    return found
