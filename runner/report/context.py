"""What every report writer gets, and the shape a writer has (see formats.py for the registry)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner.execute.thumbs import Thumb
from runner.records.run_records import RunSnapshot

CSV_SEPARATORS = {",": ",", ";": ";", "tab": "\t"}  # as written on the command line


@dataclass(frozen=True)
class ReportOptions:
    """Choices a user makes about the reports."""

    csv_separator: str = ","  # ';' for French and German Excel


@dataclass(frozen=True)
class ReportContext:
    """What writers may need beyond the snapshot."""

    output_dir: Path  # absolute
    thumbs: Mapping[str, Thumb | None]  # by output file sha256
    source_thumbs: Mapping[str, Thumb | None]  # by absolute path of a local source image
    options: ReportOptions = ReportOptions()


class ReportWriter(Protocol):
    """One report format: a file name in the output folder and how to render it."""

    @property
    def filename(self) -> str: ...

    # False for a manifest of the folder's own files (backdrop.lock): a merged report spans
    # several folders, and each folder's manifest stays its own.
    @property
    def in_merged_report(self) -> bool: ...

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes: ...
