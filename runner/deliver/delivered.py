"""What export wrote into each delivery folder, so that it never replaces a file it did not write.

Kept in the output folder's private `.backdrop/exports.json` (not in the delivery folder, which
is sent on as it is): delivery folder (resolved) -> delivered path -> the SHA-256 written there.
A file in the delivery folder is replaced only when it still holds exactly what an export wrote;
anything else (a photo of the user's, a file edited by hand) stops the export unless --overwrite.
A lost or damaged record can only cost an --overwrite, never a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.diagnostics import StateError, UsageError, display_path
from runner.fileio import FolderRole, FolderWriteError, folder_error, is_within
from runner.report.atomic import write_atomic

RECORD_PATH = ".backdrop/exports.json"
_FORMAT = 1
_SHOWN = 10
EXPORT_FOLDER = FolderRole("the export folder", "choose a writable export folder with --to")


class DeliveredRecord:
    """The files export wrote into one delivery folder, as recorded by this output folder."""

    def __init__(self, output_dir: Path, to: Path) -> None:
        self.path = output_dir / RECORD_PATH
        self.folder = os.path.realpath(to)
        self.folders: dict[str, dict[str, str]] = {}
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            data = json.loads(self.path.read_text("utf-8"))
            if data.get("format") == _FORMAT and isinstance(data.get("folders"), dict):
                self.folders = data["folders"]
        files = self.folders.get(self.folder)
        self.files: dict[str, str] = files if isinstance(files, dict) else {}
        self.changed = False

    def wrote(self, relative: str, sha256: str) -> bool:
        return self.files.get(relative) == sha256

    def note(self, relative: str, sha256: str) -> None:
        if self.files.get(relative) != sha256:
            self.files[relative] = sha256
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        self.folders[self.folder] = self.files
        text = json.dumps({"format": _FORMAT, "folders": self.folders}, sort_keys=True)
        # A read-only output folder only means the next export asks for --overwrite.
        with contextlib.suppress(OSError, StateError):
            write_atomic(self.path, text.encode("utf-8"), durable=False)


@dataclass
class Delivery:
    """Writes files under the export folder: refuses escapes, links and files it did not write,
    and skips unchanged bytes."""

    to: Path
    record: DeliveredRecord
    overwrite: bool = False
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def write_all(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Check every target first, so that a refusal writes nothing; then write."""
        real = os.path.realpath(self.to)
        pending: list[tuple[str, Path, bytes, str]] = []
        foreign: list[str] = []
        for relative, data in files:
            target = self._target(real, relative)
            digest = hashlib.sha256(data).hexdigest()
            existing = _read(target)
            if existing == data:
                self.unchanged.append(relative)
                self.record.note(relative, digest)
                continue
            ours = existing is None or self.record.wrote(
                relative, hashlib.sha256(existing).hexdigest()
            )
            if not (ours or self.overwrite):
                foreign.append(relative)
                continue
            pending.append((relative, target, data, digest))
        if foreign:
            shown = ", ".join(foreign[:_SHOWN]) + (" ..." if len(foreign) > _SHOWN else "")
            raise UsageError(
                f"{len(foreign)} file(s) in {display_path(self.to)} were not written by an "
                f"earlier export and would be replaced: {shown}",
                hint="export into an empty folder of its own, e.g. --to delivery/; "
                "or add --overwrite to replace them",
            )
        try:
            for relative, target, data, digest in pending:
                try:
                    write_atomic(target, data, durable=False, role=EXPORT_FOLDER)
                except FolderWriteError as err:  # said of --to, whichever subfolder it was
                    raise folder_error(self.to, err.exc, relative, role=EXPORT_FOLDER) from None
                self.record.note(relative, digest)
                self.written.append(relative)
        finally:
            self.record.save()

    def _target(self, real: str, relative: str) -> Path:
        target = self.to / relative
        real_parent = os.path.realpath(target.parent)
        if not is_within(real_parent, real):
            raise UsageError(
                f"{relative} would be written outside {self.to} (a folder there is a link)",
                hint="remove the link from the export folder, or export into another folder",
            )
        if target.is_symlink():
            raise UsageError(f"{target} is a symbolic link; export does not write through links")
        return target


def _read(target: Path) -> bytes | None:
    try:
        return target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror or exc}") from None
