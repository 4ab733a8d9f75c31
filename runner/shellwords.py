"""Command lines to copy and paste: each argument quoted for the shell people type them into.

`backdrop status` prints the commands to run next. A path with a space, a quote or a `$` must
reach backdrop as it is, whatever the shell: sh, bash, zsh and fish on macOS and Linux (and Git
Bash on Windows); cmd and PowerShell on Windows. Where one spelling cannot serve both Windows
shells, the PowerShell one is used: in cmd its quotes stay part of the argument, so the command
fails loudly (no such file) rather than quietly naming another file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Literal

Shell = Literal["posix", "windows"]

# Read as themselves, unquoted, by every shell above (anywhere in a word: `~`, `#` and `@` are
# not here, since sh and PowerShell treat them specially at a word's start).
_PLAIN = re.compile(r"[A-Za-z0-9_./:+,=-]+")
_PLAIN_WINDOWS = re.compile(r"[A-Za-z0-9_./\\:+=-]+")  # `,` makes an array in PowerShell
# Inside "...": cmd expands %NAME% (and !NAME! with delayed expansion), PowerShell expands $name
# and reads ` as its escape; bash's history expansion reads !. PowerShell also takes the
# typographic double quotes as quotes.
_NOT_IN_DOUBLE_QUOTES = frozenset('"%$`!\u201c\u201d\u201e')
# PowerShell ends a '...' string at any of these; doubled, each stands for itself.
_POWERSHELL_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def current_shell(environ: Mapping[str, str] | None = None) -> Shell:
    """The family of shells a user of this machine types into (Git Bash on Windows: posix)."""
    env = os.environ if environ is None else environ
    return "windows" if os.name == "nt" and "MSYSTEM" not in env else "posix"


def quote(arg: str, shell: Shell | None = None) -> str:
    """`arg` as one word for `shell` (default: this machine's)."""
    shell = shell or current_shell()
    if shell == "windows":
        return _quote_windows(arg)
    if arg and _PLAIN.fullmatch(arg) and not arg.startswith("="):  # zsh expands =cmd
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def _quote_windows(arg: str) -> str:
    if arg and _PLAIN_WINDOWS.fullmatch(arg):
        return arg
    if not set(arg) & _NOT_IN_DOUBLE_QUOTES and not arg.endswith("\\"):
        return f'"{arg}"'  # the same in cmd and PowerShell (a final \ would escape the quote)
    for mark in _POWERSHELL_SINGLE_QUOTES:
        arg = arg.replace(mark, mark * 2)
    return f"'{arg}'"


def command_line(argv: Iterable[str], shell: Shell | None = None) -> str:
    """The words of a command joined into one line to paste."""
    return " ".join(quote(arg, shell) for arg in argv)


def path_argument(path: str) -> str:
    """A relative path that starts with '-' gets './' in front, so that it is never an option."""
    return f".{os.sep}{path}" if path.startswith("-") else path
