"""`run --prune`: delete the images earlier runs wrote for jobs the recipe no longer has.

Only files the state records as written by backdrop are candidates, and only while they still
hold the bytes backdrop wrote: a source photo, a data file, a copy the user made or an image
retouched since is never deleted, whatever folder the output folder is. Folders left empty by
the deletions are removed too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runner.diagnostics import StateError
from runner.execute.folder_guard import FolderGuard
from runner.execute.result_files import OutputWriteError, resolve_output, verify_existing
from runner.records.state import StateStore


@dataclass(frozen=True)
class PruneCandidates:
    stale: tuple[str, ...]  # written by backdrop, unchanged, produced by no current job
    edited: tuple[str, ...]  # written by backdrop but changed since: kept


@dataclass(frozen=True)
class PruneResult:
    candidates: PruneCandidates
    deleted: tuple[str, ...]  # empty when the user said no
    folders_removed: int


def prune_outputs(output_dir: Path, confirm: Callable[[PruneCandidates], bool]) -> PruneResult:
    """Find the stale files under the run lock, ask `confirm`, delete them if it says yes."""
    output_dir = Path(output_dir)
    with FolderGuard(output_dir), StateStore.open(output_dir) as state:
        candidates = find_prunable(output_dir, state)
        if not candidates.stale or not confirm(candidates):
            return PruneResult(candidates, (), 0)
        deleted: list[str] = []
        folders: set[Path] = set()
        try:
            for relative in candidates.stale:
                try:
                    (output_dir / relative).unlink(missing_ok=True)
                except OSError as exc:
                    raise StateError(
                        f"prune: cannot delete {relative}: {exc.strerror or exc}",
                        "make the folder writable, then run again with --prune",
                    ) from None
                deleted.append(relative)
                folders.update(_parents(relative))
        finally:
            state.forget_written(deleted)
    return PruneResult(candidates, tuple(deleted), _remove_empty(output_dir, folders))


def find_prunable(output_dir: Path, state: StateStore) -> PruneCandidates:
    snapshot = state.snapshot()
    current = {
        _normal(path)
        for job in snapshot.jobs
        for path in (*job.outputs, *(record.path for record in job.files))
    }
    # Belt and braces: the sources of the latest run are never candidates, recorded or not.
    sources = {os.path.realpath(snapshot.recipe_path)} | {
        os.path.realpath(job.image_path) for job in snapshot.jobs if job.image_path
    }
    stale: list[str] = []
    edited: list[str] = []
    for relative, (sha256, size, recipe) in sorted(state.written_files().items()):
        if _normal(relative) in current or recipe not in (None, snapshot.recipe_name):
            continue  # still produced, or another recipe's sharing this folder
        try:
            target, _ = resolve_output(output_dir, relative)
        except OutputWriteError:
            continue  # a link now leads out of the folder: not ours to follow
        path = output_dir / relative
        if path.is_symlink() or not path.is_file() or str(target) in sources:
            continue
        (stale if verify_existing(path, sha256, size) else edited).append(relative)
    return PruneCandidates(tuple(stale), tuple(edited))


def _normal(path: str) -> str:
    return PurePosixPath(os.path.normpath(path)).as_posix()


def _parents(relative: str) -> list[Path]:
    return [parent for parent in Path(relative).parents if parent != Path(".")]


def _remove_empty(output_dir: Path, folders: set[Path]) -> int:
    """Remove the folders that deletions left empty, deepest first; never the output folder."""
    removed = 0
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        try:
            (output_dir / folder).rmdir()  # fails unless empty: only what we emptied goes
            removed += 1
        except OSError:
            continue
    return removed
