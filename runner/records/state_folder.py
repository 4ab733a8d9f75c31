"""The `.backdrop` folder holds only what backdrop wrote there, and stays in the project.

The folder is kept out of git, but nothing stops a pull request from committing one: its
`state.db` as a link to a file elsewhere would be read (and its errors printed), its `lock` or
`reserve` as a link to `~/.bashrc` would be truncated by the next run. So before the state is
opened, read or written, the folder and what it holds must lie (links followed) inside the
output folder's project (files.data_roots, as data files must), and the files backdrop opens
there must be plain files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from runner.diagnostics import StateError
from runner.recipe.files import FileProblem, confine, data_roots

STATE_DIR = ".backdrop"  # in each output folder: backdrop's private records
SHARD_PREFIX = "shard-"  # the folders `run --shard K/N` writes into, by convention

# The files backdrop opens in the folder itself (SQLite adds the -wal, -shm and -journal).
PLAIN_FILES = (
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "state.db-journal",
    "lock",
    "review.lock",
    "reserve",
)
_HINT = (
    "backdrop never makes links or special files there: remove that entry (what a link points"
    " to is not touched), and keep .backdrop out of git and of pull requests"
)


def check_state_folder(output_dir: Path) -> None:
    """Raise StateError (exit 3) when `.backdrop` in output_dir, or an entry in it, leads out
    of the project, or a file backdrop opens there is a pipe, a device or a folder."""
    folder = Path(output_dir) / STATE_DIR
    if not os.path.lexists(folder):
        return
    roots = data_roots(Path(output_dir))
    try:
        entries = [folder, *(Path(entry.path) for entry in os.scandir(folder))]
    except NotADirectoryError:
        raise StateError(
            f"{folder} is a file, not backdrop's state folder",
            "rename or remove it: backdrop keeps its state in a folder of that name",
        ) from None
    except OSError:
        return  # unreadable: opening the state says why
    for path in entries:
        try:
            confine(path, roots)
        except FileProblem:
            raise StateError(
                f"{path} is a link to a place outside the project ({', '.join(map(str, roots))}),"
                " so backdrop does not read or write through it",
                _HINT,
            ) from None
    for name in PLAIN_FILES:
        path = folder / name
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            raise StateError(f"{path} is not a plain file, so backdrop does not open it", _HINT)
