"""Is this file an .xlsx workbook we may open? Decided from its bytes, before openpyxl sees it.

An .xlsx is XML inside a zip: a small file can claim gigabytes once decompressed, so the sizes
the zip declares are capped before anything is decompressed (zipfile never gives more than an
entry declares, and a lie fails its CRC check). The XML is capped too, because parsing it is
what takes time (about half a second per MB): in particular the parts openpyxl parses whole when
it opens the workbook, before a time limit can act (the shared text, the styles, and any sheet
that does not state its size at its start). Other formats people save with an Excel name (.xls,
.ods, a password, a CSV or a web page) are named, with the way out.
"""

from __future__ import annotations

import io
import re
import zipfile

MEBIBYTE = 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 100 * MEBIBYTE  # every part, pictures included: the memory it takes
MAX_XML_BYTES = 32 * MEBIBYTE  # a 10,000-row sheet of 20 columns is about 10 MB
MAX_EAGER_BYTES = 16 * MEBIBYTE  # parsed whole on opening: about 10 s of the worst kind
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b")
_HEAD_BYTES = 16 * 1024
MAX_ZIP_ENTRIES = 10_000  # a workbook has tens of parts; more is not one
SAVE_AS_XLSX = "open it in Excel and save it as an Excel Workbook (.xlsx): File > Save As"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File: .xls, .doc, encrypted OOXML
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")  # a stream name in the OLE directory
_ZIP_MAGIC = b"PK\x03\x04"


class WorkbookRefusal(Exception):
    """Why a workbook cannot be read: `message` reads after "the file X", or, `at_sheet`, it
    is about the recipe's `sheet:` and reads alone."""

    def __init__(self, message: str, hint: str | None = None, at_sheet: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.at_sheet = at_sheet


def open_workbook_zip(data: bytes) -> zipfile.ZipFile:
    """The workbook's zip, checked for its kind and decompressed size; raises WorkbookRefusal."""
    if data.startswith(_OLE_MAGIC):
        raise _ole_refusal(data)
    if not data.startswith(_ZIP_MAGIC):
        raise _not_a_zip(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise WorkbookRefusal(
            "is damaged: it starts like an .xlsx but its contents cannot be read",
            f"{SAVE_AS_XLSX}, or copy it again (was it cut short by a download or a sync?)",
        ) from None
    names = {entry.filename for entry in entries}
    if "xl/workbook.xml" not in names:
        raise _other_zip(archive, names)
    if len(entries) > MAX_ZIP_ENTRIES:
        raise WorkbookRefusal(
            f"holds {len(entries):,} parts, more than any workbook does ({MAX_ZIP_ENTRIES:,})",
            SAVE_AS_XLSX,
        )
    xml = [entry for entry in entries if entry.filename.lower().endswith(_XML_SUFFIXES)]
    for total, limit, what in (
        (sum(entry.file_size for entry in entries), MAX_UNCOMPRESSED_BYTES, "once decompressed"),
        (sum(entry.file_size for entry in xml), MAX_XML_BYTES, "of XML once decompressed"),
        (
            _eager_bytes(archive, xml),
            MAX_EAGER_BYTES,
            "of XML to read in one go (its shared text, its styles, and sheets that do not state"
            " their size)",
        ),
    ):
        if total > limit:
            raise WorkbookRefusal(
                f"holds {_megabytes(total)} {what}, more than the {_megabytes(limit)} allowed",
                "keep only the sheet the recipe reads, or split it into smaller workbooks",
            )
    return archive


def _megabytes(size: int) -> str:
    return f"{size / MEBIBYTE:,.0f} MB" if size >= 10 * MEBIBYTE else f"{size / MEBIBYTE:.1f} MB"


def _eager_bytes(archive: zipfile.ZipFile, xml: list[zipfile.ZipInfo]) -> int:
    """The XML openpyxl parses whole when it opens the workbook: every part but the sheets
    that state their size (<dimension>) at their start, which it reads only as far as that."""
    total = 0
    for entry in xml:
        if entry.filename.startswith("xl/worksheets/") and entry.file_size > _HEAD_BYTES:
            try:
                with archive.open(entry) as part:
                    if _DIMENSION.search(part.read(_HEAD_BYTES)):
                        continue
            except (zipfile.BadZipFile, OSError, EOFError, ValueError):
                pass  # counted; opening it says it is damaged
        total += entry.file_size
    return total


def _ole_refusal(data: bytes) -> WorkbookRefusal:
    if _ENCRYPTED_STREAM in data:
        return WorkbookRefusal(
            "is protected with a password, so it cannot be read",
            "remove the password (in Excel: File > Info > Protect Workbook > Encrypt with "
            "Password, and clear it), then save it again",
        )
    return WorkbookRefusal(
        "is in the old Excel 97-2003 format (.xls), which backdrop does not read", SAVE_AS_XLSX
    )


def _not_a_zip(data: bytes) -> WorkbookRefusal:
    head = data[:2048].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n").lower()
    if not data:
        return WorkbookRefusal("is empty (0 bytes)", SAVE_AS_XLSX)
    if head.startswith((b"<html", b"<!doctype html", b"<table", b"<meta")):
        return WorkbookRefusal(
            "is a web page (HTML) saved with an Excel name, not a workbook", SAVE_AS_XLSX
        )
    if head.startswith(b"<?xml") and b"office:spreadsheet" in data[:4096].lower():
        return WorkbookRefusal(
            "is an Excel 2003 XML spreadsheet, not an .xlsx workbook", SAVE_AS_XLSX
        )
    if _looks_like_text(data[:4096]):
        return WorkbookRefusal(
            "is a text file (a CSV?), not an Excel workbook",
            "if it is a CSV export, give it a .csv name and read it with {csv: ...} instead of "
            "{xlsx: ...}",
        )
    return WorkbookRefusal("is not an Excel workbook (.xlsx)", SAVE_AS_XLSX)


def _looks_like_text(sample: bytes) -> bool:
    """Text in any 8-bit encoding or UTF-16 with a BOM: no NUL bytes, few control characters."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in sample:
        return False
    controls = sum(1 for byte in sample if byte < 32 and byte not in b"\t\r\n")
    return controls * 100 <= len(sample)


def _other_zip(archive: zipfile.ZipFile, names: set[str]) -> WorkbookRefusal:
    mimetype = ""
    if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
        mimetype = archive.read("mimetype").decode("ascii", "replace")
    if "spreadsheet" in mimetype:
        return WorkbookRefusal(
            "is an OpenDocument spreadsheet (.ods, from LibreOffice or Numbers), not an .xlsx",
            "open it and save it as Excel 2007-365 (.xlsx): File > Save As",
        )
    if "word/document.xml" in names:
        return WorkbookRefusal("is a Word document, not an Excel workbook")
    if "ppt/presentation.xml" in names:
        return WorkbookRefusal("is a PowerPoint presentation, not an Excel workbook")
    if any(name.startswith("Index/") and name.endswith(".iwa") for name in names):
        return WorkbookRefusal(
            "is an Apple Numbers document, not an Excel workbook",
            "in Numbers, export it: File > Export To > Excel (.xlsx)",
        )
    return WorkbookRefusal("is a zip archive, not an Excel workbook (.xlsx)", SAVE_AS_XLSX)
