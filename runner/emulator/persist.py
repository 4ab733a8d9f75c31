"""The emulator's memory across restarts: what the real service keeps, in a folder.

Layout of the folder (EmulatorConfig.state_dir):
- presign.key    the secret that signs temporaryUrls, so that old links stay valid
- uploads/<sha256>  the bytes of each upload, named by their content hash (written before use)
- journal.jsonl  one JSON object per line, appended and fsynced before the emulator answers:
                 {"kind": "upload", "key", "mimetype", "sha256"} or
                 {"kind": "generation", "results": {key: ResultSpec fields}, "charge": LedgerEntry}

A line is written with one write() on an O_APPEND file, so a crash can only tear the last line;
a torn or unreadable line is skipped on load (and a torn tail cut off, so the next line starts
clean). Result images are not stored: their specs re-render them to the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from runner.emulator.ledger import LedgerEntry
from runner.emulator.store import MIMETYPES, ResultSpec
from runner.fileio import O_BINARY, fsync_dir

JOURNAL = "journal.jsonl"
SECRET = "presign.key"
UPLOADS = "uploads"
_SECRET_BYTES = 32
_SPEC_FIELDS = frozenset(f.name for f in fields(ResultSpec))
_ENTRY_FIELDS = frozenset(f.name for f in fields(LedgerEntry))


@dataclass(frozen=True)
class Restored:
    """What an earlier emulator left in the folder."""

    uploads: dict[str, tuple[Path, str]] = field(default_factory=dict)  # key -> (file, mimetype)
    results: dict[str, ResultSpec] = field(default_factory=dict)
    charges: list[LedgerEntry] = field(default_factory=list)
    skipped_lines: int = 0  # torn or unreadable journal lines
    forgotten: set[str] = field(default_factory=set)  # uploads the API no longer knows


class StateFolder:
    """Reads and appends the emulator's saved state. Thread-safe: uploads write from workers."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.uploads_dir = folder / UPLOADS
        self.journal = folder / JOURNAL
        self._lock = threading.Lock()
        self.uploads_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def secret(self) -> bytes:
        """The presigning secret: the saved one, or a new one saved for next time."""
        path = self.folder / SECRET
        with contextlib.suppress(OSError):
            saved = path.read_bytes()
            if len(saved) == _SECRET_BYTES:
                return saved
        secret = secrets.token_bytes(_SECRET_BYTES)
        _write_atomically(path, secret)
        return secret

    def load(self) -> Restored:
        """Everything the journal records; cuts a torn last line off so appends start clean."""
        restored = Restored()
        try:
            data = self.journal.read_bytes()
        except FileNotFoundError:
            return restored
        complete, _, torn = data.rpartition(b"\n")
        skipped = 0
        if torn:
            skipped += 1
            with open(self.journal, "r+b") as handle:
                handle.truncate(len(complete) + 1 if complete else 0)
                os.fsync(handle.fileno())
        for line in complete.split(b"\n") if complete else ():
            if not self._apply(line, restored):
                skipped += 1
        return Restored(
            restored.uploads, restored.results, restored.charges, skipped, restored.forgotten
        )

    def _apply(self, line: bytes, restored: Restored) -> bool:
        try:
            record = json.loads(line)
            kind = record["kind"]
            if kind == "upload":
                path = self.uploads_dir / _hex(record["sha256"])
                if not path.is_file():
                    return False
                restored.uploads[str(record["key"])] = (path, str(record["mimetype"]))
            elif kind == "forget-uploads":
                restored.forgotten.update(str(key) for key in record["keys"])
            elif kind == "generation":
                results = {str(key): _spec(spec) for key, spec in record["results"].items()}
                charge = _entry(record["charge"])
                restored.results.update(results)
                restored.charges.append(charge)
            else:
                return False
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        return True

    def record_upload(self, key: str, data: bytes, mimetype: str) -> None:
        """Save an upload's bytes, then journal it (blocking: call from a worker thread)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.uploads_dir / digest
        if not (path.is_file() and path.stat().st_size == len(data)):
            _write_atomically(path, data)
        self._append({"kind": "upload", "key": key, "mimetype": mimetype, "sha256": digest})

    def record_generation(self, results: Mapping[str, ResultSpec], charge: LedgerEntry) -> None:
        """Journal a charged generation: its result specs and its ledger entry, in one line."""
        self._append(
            {
                "kind": "generation",
                "results": {key: asdict(spec) for key, spec in results.items()},
                "charge": charge.to_json(),
            }
        )

    def record_forgotten(self, keys: list[str]) -> None:
        """Journal uploads the API forgot (expired): they stay forgotten after a restart."""
        self._append({"kind": "forget-uploads", "keys": keys})

    def clear(self) -> None:
        """Forget every upload, result and charge (the presigning secret stays)."""
        with self._lock:
            _write_atomically(self.journal, b"")
            for path in self.uploads_dir.iterdir():
                path.unlink(missing_ok=True)

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        with self._lock:
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT | O_BINARY, 0o600)
            try:
                written = os.write(fd, line)
                if written != len(line):  # a short write leaves a torn line; say so
                    raise OSError(f"short write to {self.journal}")
                os.fsync(fd)
            finally:
                os.close(fd)


def _hex(digest: object) -> str:
    """A sha256 hex digest from the journal, checked so that it cannot name another path."""
    if not (isinstance(digest, str) and len(digest) == 64):
        raise ValueError(digest)
    int(digest, 16)
    return digest


def _spec(data: dict[str, Any]) -> ResultSpec:
    if set(data) != _SPEC_FIELDS:
        raise ValueError(data)
    spec = ResultSpec(**data)
    if spec.output_format not in MIMETYPES:
        raise ValueError(spec.output_format)
    return spec


def _entry(data: dict[str, Any]) -> LedgerEntry:
    if set(data) != _ENTRY_FIELDS:
        raise ValueError(data)
    return LedgerEntry(**{**data, "results": tuple(data["results"])})


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file, fsync it, rename it into place and fsync the folder."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
