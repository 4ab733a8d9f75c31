"""Commands to paste: each argument reaches the program as it is, in sh/bash (for real), and in
cmd and PowerShell by their documented rules; where one spelling cannot serve both Windows
shells, the command fails loudly in cmd rather than naming another file."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from runner.shellwords import command_line, current_shell, path_argument, quote

AWKWARD = [
    "recipes/spring.yaml",
    "my campaign/recipe.yaml",
    "it's here/recipe.yaml",
    'say "cheese"/r.yaml',
    "$HOME/r.yaml",
    "`id`/r.yaml",
    "a;b|c&d/r.yaml",
    "100%/r.yaml",
    "!bang/r.yaml",
    "~/r.yaml",
    "#not-a-comment.yaml",
    "=zsh.yaml",
    "Crème brûlée/r.yaml",
    "京都/r.yaml",
    "a*b?[c]/r.yaml",
    "",
    "tab\there",
    ";",
]


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell here")
@pytest.mark.parametrize("arg", AWKWARD)
def test_posix_shells_read_each_argument_back_as_it_was(arg):
    # printf, built into both shells, writes each argument the shell read, then a NUL: the
    # shell's reading with no program to start (a Python child for it took ~25 ms of CPU).
    line = command_line(["printf", "%s\\0", arg], "posix")
    for shell in ("sh", "bash"):
        if shutil.which(shell) is None:
            continue
        said = subprocess.run([shell, "-c", line], capture_output=True, check=True)
        assert said.stdout.decode("utf-8").split("\0") == [arg, ""], shell


def test_plain_words_stay_unquoted():
    assert command_line(["backdrop", "run", "recipes/spring.yaml", "--rejected"], "posix") == (
        "backdrop run recipes/spring.yaml --rejected"
    )
    assert quote(r"out\spring-campaign", "windows") == r"out\spring-campaign"
    assert quote("C:\\Users\\ana\\recipe.yaml", "windows") == "C:\\Users\\ana\\recipe.yaml"


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        # The same in cmd and PowerShell: double quotes, nothing inside either expands.
        (r"C:\My Campaigns\spring.yaml", r'"C:\My Campaigns\spring.yaml"'),
        ("it's here", '"it\'s here"'),
        ("a&b", '"a&b"'),
        ("a,b", '"a,b"'),  # PowerShell would make an array of a,b
        ("@list", '"@list"'),
        # cmd expands %VAR% and PowerShell $VAR inside "...": PowerShell's literal '...' instead;
        # in cmd its quotes stay in the argument, and the path is not found (loud, not another).
        (r"C:\100%\r.yaml", r"'C:\100%\r.yaml'"),
        (r"C:\$x\r.yaml", r"'C:\$x\r.yaml'"),
        ("a`b", "'a`b'"),
        ("it's 100%", "'it''s 100%'"),
        ("it\u2019s $x", "'it\u2019\u2019s $x'"),  # PowerShell ends '...' at ’ too
        ("say \u201chi\u201d", "'say \u201chi\u201d'"),  # and "..." at “ ”
        (r"C:\with space\\", r"'C:\with space\\'"),  # a final \ would escape a closing "
    ],
)
def test_windows_quoting(arg, quoted):
    assert quote(arg, "windows") == quoted


def test_the_shell_family_of_this_machine(monkeypatch):
    assert current_shell({}) == ("windows" if sys.platform == "win32" else "posix")
    assert current_shell({"MSYSTEM": "MINGW64"}) == "posix"  # Git Bash on Windows too


def test_a_path_that_looks_like_an_option_is_made_a_path():
    assert path_argument("-campaign/recipe.yaml").endswith("-campaign/recipe.yaml")
    assert path_argument("-campaign/recipe.yaml").startswith(".")
    assert path_argument("campaign/recipe.yaml") == "campaign/recipe.yaml"
