"""How reports name files outside the output folder, so that they do not change per checkout."""

from __future__ import annotations

import os
from pathlib import Path, PurePath


def shown_recipe_path(recipe_path: str, output_dir: Path) -> str:
    """The recipe as a POSIX path relative to the output folder (`../spring.yaml`).

    The state records it absolute; a report must read the same from every clone of a project.
    """
    if not recipe_path or not PurePath(recipe_path).is_absolute():
        return PurePath(recipe_path).as_posix() if recipe_path else ""
    try:
        relative = os.path.relpath(recipe_path, os.path.abspath(output_dir))
    except ValueError:  # another drive on Windows: only the name is portable
        return PurePath(recipe_path).name
    return PurePath(relative).as_posix()
