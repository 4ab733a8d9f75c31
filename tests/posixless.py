"""Run backdrop in a child process as Windows would let it run: without POSIX-only code.

Windows cannot be had here, so the child takes away from Backdrop's own modules (runner.*)
what Windows does not have, before any of them is imported:

- the modules `fcntl`, `resource`, `pwd`, `grp`, `termios`, `tty` and `pty`: importing one
  raises ModuleNotFoundError, at import time or inside a function;
- every name of `os` and `signal` that typeshed declares for Linux and not for win32 (read from
  the stubs mypy ships, so the list is typeshed's, not ours): `os.getuid`, `os.statvfs`,
  `os.mkfifo`, `os.pread`, `os.fchmod`, `os.posix_fallocate`, `os.O_NOFOLLOW`,
  `signal.SIGHUP`, `signal.SIGKILL`, `signal.setitimer` ... raise AttributeError;
- opening a folder with os.open raises PermissionError, as it does on Windows;
- the event loop has no add_signal_handler (NotImplementedError, like Windows' proactor loop),
  so a stop signal reaches Backdrop only through signal.signal, as Ctrl-C does on Windows.

What it cannot take away: the standard library and the libraries underneath (asyncio, uvicorn,
sqlite3, filelock ...) still run their Linux code, as they run their own Windows code there;
os.path stays posixpath; file-sharing rules (a file open elsewhere cannot be replaced) and
text-mode descriptors are Windows' alone. Only runner.* is restricted, because pytest, uvicorn
and asyncio's Unix event loop in the same child need some of what is taken away.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import sys
from pathlib import Path

BLOCKED_MODULES = ("fcntl", "resource", "pwd", "grp", "termios", "tty", "pty")
REPO = Path(__file__).resolve().parents[1]


def posix_only_names(stub: Path) -> frozenset[str]:
    """The names a typeshed stub declares on linux but not on win32."""
    tree = ast.parse(stub.read_text(encoding="utf-8"))

    def declared(platform: str) -> set[str]:
        found: set[str] = set()

        def holds(test: ast.expr) -> bool:
            context = {"sys": type("sys", (), {"platform": platform, "version_info": (3, 11)})}
            try:
                return bool(eval(compile(ast.Expression(test), str(stub), "eval"), context))
            except Exception:  # a condition on something else: both branches are possible
                return True

        def walk(body: list[ast.stmt]) -> None:
            for node in body:
                if isinstance(node, ast.If):
                    walk(node.body if holds(node.test) else node.orelse)
                elif isinstance(node, ast.FunctionDef | ast.ClassDef):
                    found.add(node.name)
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    found.add(node.target.id)
                elif isinstance(node, ast.Assign):
                    found.update(t.id for t in node.targets if isinstance(t, ast.Name))

        walk(tree.body)
        return found

    return frozenset(declared("linux") - declared("win32"))


def typeshed_stub(module: str) -> Path:
    import mypy

    stdlib = Path(mypy.__file__).parent / "typeshed" / "stdlib"
    package = stdlib / module / "__init__.pyi"
    return package if package.is_file() else stdlib / f"{module}.pyi"


@functools.cache
def hidden_names() -> tuple[frozenset[str], frozenset[str]]:
    """The names taken from os and from signal: read once, here, and handed to each child (each
    would otherwise parse the stubs again, 40 ms of its start-up)."""
    return posix_only_names(typeshed_stub("os")), posix_only_names(typeshed_stub("signal"))


# The child's first lines: restrict runner.*, then run `python -m runner ARGS` or a probe.
_BOOTSTRAP = """
import sys
sys.path.insert(0, {repo!r})
from tests.posixless import restrict_runner
restrict_runner({hidden_os!r}, {hidden_signal!r})
{then}
"""
_AS_BACKDROP = """
import runpy
sys.argv[0] = "backdrop"
runpy.run_module("runner", run_name="__main__", alter_sys=True)
"""


# Several commands in one child, one after the other, through the same entry point as
# `python -m runner`; what each printed and its exit code, as JSON on stdout at the end.
_AS_BACKDROP_SEVERAL = """
import contextlib, io, json
from runner.cli import main
done = []
for args in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exit_:
            code = exit_.code
    done.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(done))
"""


def command(*args: str) -> list[str]:
    """argv for `backdrop ARGS` in a child restricted as on Windows."""
    return _python(_AS_BACKDROP, *args)


def commands(*argvs: list[str]) -> list[str]:
    """argv for several `backdrop ARGS` in one child restricted as on Windows (the restrictions
    hold for the whole process): it prints [[exit code, stdout, stderr], ...] as JSON."""
    return _python(_AS_BACKDROP_SEVERAL, json.dumps(argvs))


def probe(code: str) -> list[str]:
    """argv for running `code` as if it were a module of runner (runner.probe), restricted."""
    return _python(f"exec({code!r}, {{'__name__': 'runner.probe'}})")


def _python(then: str, *args: str) -> list[str]:
    hidden_os, hidden_signal = hidden_names()
    bootstrap = _BOOTSTRAP.format(
        repo=str(REPO), hidden_os=hidden_os, hidden_signal=hidden_signal, then=then
    )
    return [sys.executable, "-X", "warn_default_encoding", "-c", bootstrap, *args]


def restrict_runner(hidden_os: frozenset[str], hidden_signal: frozenset[str]) -> None:
    """Install the restrictions (in the child, before runner is imported): the names of os and
    signal in `hidden_os` and `hidden_signal` (hidden_names()) are taken away."""
    import asyncio.unix_events
    import builtins
    import signal
    import stat
    import types
    import warnings

    # An open() without encoding= reads cp1252 on Windows: an error here, in runner.* only.
    warnings.filterwarnings("ignore", category=EncodingWarning)
    warnings.filterwarnings("error", category=EncodingWarning, module="runner")

    class Without(types.ModuleType):
        def __init__(self, real: types.ModuleType, hidden: frozenset[str], **given: object):
            super().__init__(real.__name__, real.__doc__)
            self._real, self._hidden, self._given = real, hidden, given

        def __getattr__(self, name: str) -> object:
            if name in self._hidden:
                raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
            if name in self._given:
                return self._given[name]
            return getattr(self._real, name)

    def open_no_folder(path: object, flags: int, mode: int = 0o777, **kwargs: object) -> int:
        fd = os.open(path, flags, mode, **kwargs)  # type: ignore[arg-type]
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise PermissionError(13, "Permission denied", str(path))
        return fd

    views = {
        "os": Without(os, hidden_os, open=open_no_folder),
        "signal": Without(signal, hidden_signal),
    }
    real_import = builtins.__import__

    def restricted_import(
        name: str,
        globals: dict[str, object] | None = None,
        locals: object = None,
        fromlist: tuple[str, ...] | list[str] = (),
        level: int = 0,
    ) -> object:
        importer = str((globals or {}).get("__name__", ""))
        if level or not (importer == "runner" or importer.startswith("runner.")):
            return real_import(name, globals, locals, fromlist, level)
        top = name.partition(".")[0]
        if top in BLOCKED_MODULES:
            raise ModuleNotFoundError(f"No module named {name!r} (as on Windows)", name=name)
        module = real_import(name, globals, locals, fromlist, level)
        if top in views and (fromlist or "." not in name) and module is sys.modules[top]:
            return views[top]
        return module

    builtins.__import__ = restricted_import

    def no_signal_handlers(*args: object, **kwargs: object) -> None:
        raise NotImplementedError  # as asyncio's ProactorEventLoop on Windows

    asyncio.unix_events._UnixSelectorEventLoop.add_signal_handler = (  # type: ignore[method-assign]
        no_signal_handlers
    )
