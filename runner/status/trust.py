"""Which paths named by the output folder's own records status may use.

The state and .backdrop/exports.json may come with a pull request. A path they name outside
the git repository holding the output folder is neither read (a recipe: it would be planned and
quoted in a diagnostic) nor offered as a place to write (an export's folder). Without a
repository nothing came with a pull request, and every path is the user's own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from runner.recipe.files import project_root


def within_repository(path: Path, output_dir: Path, allowed: Iterable[Path] = ()) -> bool:
    """Is `path` (links followed) inside the repository holding output_dir, or an allowed
    folder? True when output_dir is in no repository."""
    root = project_root(output_dir)
    if not (root / ".git").exists():
        return True
    real = os.path.realpath(path)
    for folder in (root, *allowed):
        top = os.path.realpath(folder)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False
