"""Atomic, verified result files: real images, real folders."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from PIL import Image

from runner.api.client import OneMinClient
from runner.api.errors import RejectedError, TransientError
from runner.diagnostics import StateError
from runner.execute.result_files import (
    DiskUnusableError,
    OutputWriteError,
    clean_partials,
    download_verified,
    files_intact,
    verify_existing,
    write_verified,
)
from runner.fileio import PART_SUFFIX
from runner.records.run_records import FileRecord


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    # Noise, so that the files are big enough to cut into and cannot be compressed away. PNG's
    # deflate is stored (level 0): it cannot shrink noise, and trying took 0.2 s at 1536x1024.
    pixels = random.Random(size[0] * size[1]).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, fmt, compress_level=0)
    return buffer.getvalue()


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def write(out: Path, dest: str, data: bytes, fmt: str = "png", **kwargs: object) -> FileRecord:
    kwargs.setdefault("expected_size", None)
    return asyncio.run(
        write_verified(out, dest, chunks_of(data), expected_format=fmt, **kwargs)  # type: ignore[arg-type]
    )


def leftovers(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith(PART_SUFFIX)]


def test_a_good_image_is_written_and_described(tmp_path: Path) -> None:
    data = image_bytes("PNG", (1536, 1024))
    record = write(tmp_path, "winter/mug.png", data, expected_size=(1536, 1024))
    assert record == FileRecord(
        path="winter/mug.png",
        sha256=hashlib.sha256(data).hexdigest(),
        width=1536,
        height=1024,
        bytes=len(data),
    )
    assert (tmp_path / "winter" / "mug.png").read_bytes() == data
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("fmt", "pil"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_every_output_format_is_accepted(tmp_path: Path, fmt: str, pil: str) -> None:
    record = write(tmp_path, f"a.{fmt}", image_bytes(pil), fmt, expected_size=(64, 48))
    assert (record.width, record.height) == (64, 48)


@pytest.mark.parametrize(
    ("data", "fmt", "size", "message"),
    [
        (image_bytes("GIF"), "png", None, "is GIF, not the PNG that was asked for"),
        (image_bytes("PNG")[:-200], "png", None, "damaged PNG image"),
        (image_bytes("JPEG")[:-300], "jpeg", None, "damaged JPEG image"),
        (b"<html>502 Bad Gateway</html>", "png", None, "not a readable image"),
        (
            b"\n<html><body><h1>Log in to the Wi-Fi</h1></body></html>",
            "png",
            None,
            "is not a readable image (the host sent text: 'Log in to the Wi-Fi')",
        ),
    ],
    ids=[
        "not-a-result-format",
        "truncated-png",
        "truncated-jpeg",
        "not-an-image",
        "a-web-page",
    ],
)
def test_a_bad_result_is_refused_and_leaves_nothing_behind(
    tmp_path: Path, data: bytes, fmt: str, size: tuple[int, int] | None, message: str
) -> None:
    (tmp_path / "out").mkdir()
    previous = tmp_path / "out" / "a.png"
    previous.write_bytes(b"the previous file")
    with pytest.raises(TransientError) as err:
        write(tmp_path / "out", "a.png", data, fmt, expected_size=size)
    assert message in err.value.message
    assert "\n" not in err.value.message
    assert previous.read_bytes() == b"the previous file"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("sent", "asked", "pil", "compression"),
    [("PNG", "webp", "WEBP", 80), ("WEBP", "jpeg", "JPEG", 90), ("JPEG", "png", "PNG", None)],
)
def test_a_whole_result_of_another_format_is_converted_to_the_one_asked_for(
    tmp_path: Path, sent: str, asked: str, pil: str, compression: int | None
) -> None:
    # Paid for, and the same bytes would come again: converting keeps it (and says so).
    notes: list[str] = []
    record = write(
        tmp_path, f"a.{asked}", image_bytes(sent), asked, expected_size=(64, 48),
        expected_compression=compression, notes=notes,
    )  # fmt: skip
    written = (tmp_path / f"a.{asked}").read_bytes()
    with Image.open(io.BytesIO(written)) as image:
        assert (image.format, image.size) == (pil, (64, 48))
    assert record.sha256 == hashlib.sha256(written).hexdigest()
    assert record.bytes == len(written)
    assert notes == [f"the API sent {sent} where {pil} was asked for: converted to {pil}"]
    assert leftovers(tmp_path) == []


def test_a_result_damaged_past_its_header_is_retried_not_an_internal_error(tmp_path: Path) -> None:
    # Whole chunks with good checksums, but the compressed pixels are noise: Pillow fails only
    # when it decodes them, which a conversion does.
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    noise = random.Random(1).randbytes(500)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", noise)
    png += chunk(b"IEND", b"")
    with pytest.raises(TransientError, match="is a damaged PNG image"):
        write(tmp_path, "a.jpeg", png, "jpeg", notes=[])
    assert leftovers(tmp_path) == [] and not (tmp_path / "a.jpeg").exists()


def test_a_transparent_png_keeps_its_alpha_as_webp_and_loses_it_as_jpeg(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), (200, 10, 10, 0)).save(buffer, "PNG")
    write(tmp_path, "a.webp", buffer.getvalue(), "webp", notes=[])
    write(tmp_path, "a.jpeg", buffer.getvalue(), "jpeg", notes=[])
    with Image.open(tmp_path / "a.webp") as webp, Image.open(tmp_path / "a.jpeg") as jpeg:
        assert webp.mode == "RGBA" and jpeg.mode == "RGB"


def test_a_whole_result_of_another_size_is_kept_as_sent(tmp_path: Path) -> None:
    data = image_bytes("PNG", (32, 32))
    notes: list[str] = []
    record = write(tmp_path, "a.png", data, "png", expected_size=(64, 48), notes=notes)
    assert (tmp_path / "a.png").read_bytes() == data
    assert (record.width, record.height) == (32, 32)
    assert notes == ["the API sent 32x32 where 64x48 was asked for: kept as sent"]


def test_an_oversized_result_is_refused_while_streaming(tmp_path: Path) -> None:
    data = image_bytes("PNG", (256, 256))
    with pytest.raises(RejectedError, match="larger than 1000 bytes"):
        write(tmp_path, "a.png", data, max_bytes=1000)
    assert not (tmp_path / "a.png").exists()
    assert leftovers(tmp_path) == []


def test_an_interrupted_download_leaves_no_partial_file(tmp_path: Path) -> None:
    async def dies_midway() -> AsyncIterator[bytes]:
        yield image_bytes()[:100]
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(write_verified(tmp_path, "a.png", dies_midway(), expected_format="png",
                                   expected_size=None))  # fmt: skip
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dest", ["../escape.png", "/etc/escape.png", ".backdrop/state.png", "."])
def test_paths_outside_the_output_folder_are_refused(tmp_path: Path, dest: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(StateError):
        write(out, dest, image_bytes())
    assert not (tmp_path / "escape.png").exists()


def test_a_link_out_of_the_output_folder_is_refused(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "winter").symlink_to(elsewhere)
    with pytest.raises(StateError, match="outside the output folder"):
        write(out, "winter/a.png", image_bytes())
    assert list(elsewhere.iterdir()) == []


def test_verify_existing_checks_size_then_hash(tmp_path: Path) -> None:
    data = image_bytes()
    path = tmp_path / "a.png"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    assert verify_existing(path, digest)
    assert verify_existing(path, digest, len(data))
    assert not verify_existing(path, digest, len(data) + 1)
    assert not verify_existing(path, "0" * 64)
    assert not verify_existing(tmp_path / "missing.png", digest)
    path.write_bytes(data[:-1] + b"\0")
    assert not verify_existing(path, digest, len(data))


def test_files_intact_needs_every_planned_output_as_recorded(tmp_path: Path) -> None:
    one = write(tmp_path, "a/0.png", image_bytes())
    two = write(tmp_path, "a/1.png", image_bytes("PNG", (10, 10)))
    assert files_intact(tmp_path, ["a/0.png", "a/1.png"], [one, two])
    assert not files_intact(tmp_path, ["a/0.png", "a/1.png"], [one])
    assert not files_intact(tmp_path, ["b/0.png", "a/1.png"], [one, two])  # outputs moved
    (tmp_path / "a" / "1.png").write_bytes(b"edited")
    assert not files_intact(tmp_path, ["a/0.png", "a/1.png"], [one, two])


def test_clean_partials_removes_only_our_temporary_files(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    stale = tmp_path / "w" / f".a.png.x1{PART_SUFFIX}"
    stale.write_bytes(b"half")
    keep = tmp_path / "w" / "a.png"
    keep.write_bytes(b"done")
    assert clean_partials(tmp_path) == 1
    assert not stale.exists() and keep.exists()


def test_download_verified_streams_from_the_client(tmp_path: Path) -> None:
    data = image_bytes("WEBP", (40, 30))

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.copy_with(query=None) == "https://asset.test/images/r_0.webp"
        assert "API-KEY" not in request.headers
        if request.url.params.get("cut"):
            return httpx.Response(
                200, headers={"Content-Length": str(len(data))}, content=data[:50]
            )
        return httpx.Response(200, content=data)

    async def main() -> tuple[FileRecord, TransientError]:
        async with OneMinClient(
            api_key="k", asset_base_url="https://asset.test", transport=httpx.MockTransport(handler)
        ) as client:
            record = await download_verified(
                client, "images/r_0.webp", output_dir=tmp_path, dest="x/r.webp",
                expected_format="webp", expected_size=(40, 30),
            )  # fmt: skip
            with pytest.raises(TransientError) as err:
                await download_verified(
                    client, "images/r_0.webp", output_dir=tmp_path, dest="x/cut.webp",
                    expected_format="webp", expected_size=None,
                    url="https://asset.test/images/r_0.webp?cut=1",
                )  # fmt: skip
            return record, err.value

    record, error = asyncio.run(main())
    assert record.path == "x/r.webp" and record.bytes == len(data)
    assert "cut short" in error.message
    assert not (tmp_path / "x" / "cut.webp").exists()
    assert leftovers(tmp_path) == []


def test_a_disk_that_fills_up_while_writing_is_a_run_wide_error(tmp_path: Path) -> None:
    async def fills_the_disk(handle: BinaryIO) -> None:
        handle.write(b"\x89PNG")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(DiskUnusableError, match=r"^the disk holding .* is full$"):
        asyncio.run(write_verified(tmp_path, "a/b.png", fills_the_disk, expected_format="png",
                                   expected_size=None))  # fmt: skip
    assert list((tmp_path / "a").iterdir()) == []  # no partial file left behind


def test_a_file_where_a_folder_should_be_is_this_files_problem(tmp_path: Path) -> None:
    (tmp_path / "winter").write_text("not a folder")
    with pytest.raises(OutputWriteError) as err:
        write(tmp_path, "winter/deep/a.png", image_bytes())
    assert not isinstance(err.value, DiskUnusableError)
    assert err.value.message == "cannot write winter/deep/a.png: Not a directory (winter is a file)"
    assert "winter" in (err.value.hint or "") and "paid for" in (err.value.hint or "")


def test_written_files_get_the_umask_mode_not_owner_only(tmp_path: Path) -> None:
    # mkstemp makes 0600 files and os.replace keeps the mode; outputs are for the whole team.
    from runner.fileio import _umask, write_atomic

    write(tmp_path, "a.png", image_bytes())
    write_atomic(tmp_path / "report.html", b"<p>hi</p>")
    expected = 0o666 & ~_umask()
    assert expected != 0o600
    assert os.stat(tmp_path / "a.png").st_mode & 0o777 == expected
    assert os.stat(tmp_path / "report.html").st_mode & 0o777 == expected


def test_a_download_stops_writing_once_the_disk_is_kept_for_records(tmp_path: Path) -> None:
    # A state write found the disk full and freed the room kept for the records of paid
    # answers: a download still arriving must not take that room. It ends as on a full disk,
    # and its temporary file gives back what it had taken.
    data = image_bytes("PNG", (512, 512))
    written: list[int] = []

    def kept_for_records() -> bool:
        written.append(1)
        return len(written) > 2  # the room is released while the third chunk arrives

    with pytest.raises(DiskUnusableError, match="full"):
        write(tmp_path, "a.png", data, stop_writing=kept_for_records)
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "a.png").exists()
    # The same download with the room untouched is written whole.
    assert write(tmp_path, "a.png", data, stop_writing=lambda: False).bytes == len(data)
