"""`backdrop export` against what a delivery folder, an output folder or a disk can hold.

Real files throughout: pipes made with os.mkfifo, sparse files of 4 GB, links, damaged PNGs, a
full tmpfs, a stop signal to a real subprocess, and a memory limit (RLIMIT_AS) on a subprocess
for the peak memory. Each test is skipped, with the reason, where the OS lacks the mechanism.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.cli import main
from runner.deliver.delivered import RECORD_PATH, STAGING_NAME
from runner.deliver.export_outputs import MANIFEST_NAME
from runner.fileio import PART_SUFFIX
from runner.png_chunks import SIGNATURE, chunk
from runner.records.state import STATE_FILE, StateStore
from runner.records.state_folder import STATE_DIR
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import save_review
from tests.clihelp import backdrop_in, run_cli
from tests.deliverhelp import write_campaign
from tests.disks import tmpfs
from tests.runhelp import copy_campaign

REPO = Path(__file__).resolve().parents[1]
CHANNELS = "channels:\n  instagram: 1080x1350\n  story: {size: 1080x1920, fit: contain}\n"
OUT = "out/deliver-test"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this OS")


def approve_all(out: Path, only: tuple[str, ...] | None = None) -> None:
    """Approve every job (or `only` these) on its images, as the review page does."""
    snapshot = StateStore.read_snapshot(out)
    save_review(
        out,
        Review(
            {
                review_key(job.outputs): Decision(
                    status="approved", sha256=tuple(f.sha256 for f in job.files)
                )
                for job in snapshot.jobs
                if only is None or review_key(job.outputs) in only
            }
        ),
    )


def emulated_run(folder: Path, extra: str = CHANNELS, recipe_text: str | None = None) -> Path:
    recipe = write_campaign(folder, extra=extra)
    if recipe_text is not None:
        recipe.write_text(recipe_text, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["run", str(recipe), "--emulate", "-y", "-o", str(folder / OUT)])
    assert exc.value.code == 0
    approve_all(folder / OUT)
    return folder / OUT


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One emulated run of 4 jobs, all approved, never exported from: tests work on copies."""
    return emulated_run(tmp_path_factory.mktemp("export-files"))


def copy_of(pristine: Path, folder: Path) -> Path:
    """The run's output folder copied into `folder` (times kept: the state still matches the
    files). Its state names the pristine campaign's recipe, so a test that runs the recipe
    again needs a run of its own."""
    shutil.copytree(pristine.parents[1], folder, symlinks=True, dirs_exist_ok=True)
    return folder / OUT


@pytest.fixture(scope="module")
def out(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run for the tests that only read it (each exports apart)."""
    return copy_of(pristine, tmp_path_factory.mktemp("export-files-read"))


@dataclass(frozen=True)
class Delivered:
    """One export of the run, as a user makes it, and the files it hashed on the way."""

    out: Path
    to: Path
    stdout: str
    hashed: tuple[int, ...]  # the inode of each file hashed, in order


@pytest.fixture(scope="module")
def delivered(out: Path, tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    """`out` exported once (PNG, both channels), for the tests that only look at what it made."""
    import runner.deliver.sources as sources

    hashed: list[int] = []
    real = sources.sha256_stream

    def counted(handle):  # type: ignore[no-untyped-def]
        hashed.append(os.fstat(handle.fileno()).st_ino)
        return real(handle)

    to = tmp_path_factory.mktemp("export-files-delivered") / "delivery"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources, "sha256_stream", counted)
        result = backdrop_in(REPO, "export", str(out), "--to", str(to))
    assert result.returncode == 0, result.stderr
    return Delivered(out, to, result.stdout, tuple(hashed))


def with_channels(out: Path, recipe: Path, *channels: str) -> Path:
    """The run's recipe with these channels instead of its own, written at `recipe` (for
    --recipe: the run's images delivered at other sizes without running it again)."""
    text = (out.parents[1] / "recipe.yaml").read_text("utf-8")
    assert CHANNELS in text
    recipe.write_text(
        text.replace(CHANNELS, "channels:\n" + "".join(f"  {channel}\n" for channel in channels)),
        "utf-8",
    )
    return recipe


def staged_files(to: Path) -> list[Path]:
    return [path for path in to.rglob("*") if path.name.endswith(PART_SUFFIX)]


def export_limited(
    out: Path, to: Path, limit_mb: int, *args: str
) -> subprocess.CompletedProcess[str]:
    """`backdrop export` in a subprocess whose address space is capped (RLIMIT_AS)."""
    resource = pytest.importorskip("resource", reason="no resource limits on this OS")
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS is enforced on Linux only")
    limit = limit_mb << 20

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "runner", "export", str(out), "--to", str(to), *args],
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=cap,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


@needs_fifo
@pytest.mark.timeout(60)
def test_a_pipe_at_a_delivered_name_or_as_the_manifest_is_refused_without_waiting(
    out, tmp_path, capsys
):
    for name in ("instagram/fr-FR/MUG-01.png", MANIFEST_NAME):
        to = tmp_path / name.replace("/", "_")
        (to / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(to / name)
        result = run_cli(capsys, "export", str(out), "--to", str(to))
        assert result.code == 2, result.err
        assert f"{name} is a pipe (FIFO), not a file" in result.err
        assert "move those away from the export folder" in result.err
        assert sorted(p.relative_to(to).as_posix() for p in to.rglob("*") if p.is_file()) == []


@needs_fifo
@pytest.mark.timeout(60)
def test_a_pipe_where_a_delivered_image_should_be_in_the_output_folder_is_never_opened(
    pristine, tmp_path, capsys
):
    out = copy_of(pristine, tmp_path)
    image = out / "fr-FR/MUG-01.png"
    image.unlink()
    os.mkfifo(image)
    result = run_cli(capsys, "export", str(out), "--to", str(tmp_path / "delivery"))
    assert result.code == 2, result.err
    assert "fr-FR/MUG-01 (fr-FR/MUG-01.png is a pipe (FIFO), not an image file)" in result.err
    assert not (tmp_path / "delivery").exists()


def test_a_link_at_a_delivered_name_is_never_followed_to_read_or_write_its_target(
    out, tmp_path, capsys
):
    theirs = tmp_path / "elsewhere.png"
    theirs.write_bytes(b"someone else's file")
    to = tmp_path / "delivery"
    (to / "instagram/fr-FR").mkdir(parents=True)
    (to / "instagram/fr-FR/MUG-01.png").symlink_to(theirs)
    targets = [theirs]
    if hasattr(os, "mkfifo"):  # were the link followed to read it, the export would hang
        os.mkfifo(tmp_path / "pipe")
        (to / MANIFEST_NAME).symlink_to(tmp_path / "pipe")
    for extra in ((), ("--overwrite",)):
        result = run_cli(capsys, "export", str(out), "--to", str(to), *extra)
        assert result.code == 2, result.err
        assert "instagram/fr-FR/MUG-01.png is a symbolic link" in result.err
    assert all(target.read_bytes() == b"someone else's file" for target in targets)
    assert (to / "instagram/fr-FR/MUG-01.png").is_symlink()
    assert not staged_files(to)


def test_a_huge_file_at_a_delivered_name_is_refused_without_being_read(out, tmp_path):
    to = tmp_path / "delivery"
    # JPEG: what is at a delivered name is looked at the same way whatever the format. The
    # story channel only: what export wrote there is recorded; instagram's names are not.
    story = with_channels(out, tmp_path / "story.yaml", "story: {size: 1080x1920, fit: contain}")
    args = ("--to", str(to), "--format", "jpeg", "--recipe", str(story))
    first = backdrop_in(REPO, "export", str(out), *args)
    assert first.returncode == 0, first.stderr
    # One at a name export wrote (recorded, of another size), one at a name it did not.
    for name in ("story/fr-FR/MUG-01.jpg", "instagram/de-DE/CAP-02.jpg"):
        (to / name).parent.mkdir(parents=True, exist_ok=True)
        with open(to / name, "wb") as sparse:
            sparse.truncate(4 << 30)
    result = export_limited(out, to, 200, "--format", "jpeg")
    assert result.returncode == 2, result.stderr
    assert "2 file(s)" in result.stderr and "were not written by an earlier export" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert (to / "story/fr-FR/MUG-01.jpg").stat().st_size == 4 << 30
    assert not staged_files(to)


def test_a_delivery_of_8192_pixel_images_fits_in_a_small_address_space(pristine, tmp_path):
    """8192x8192 is 256 MB of pixels in Pillow: the export holds a band of it at a time, and
    runs in an address space of 200 MB (before, it needed 350 MB for this one image)."""
    out = copy_of(pristine, tmp_path)
    poster = with_channels(out, tmp_path / "poster.yaml", "poster: 8192x8192")
    job = next(j for j in StateStore.read_snapshot(out).jobs if j.outputs == ("fr-FR/MUG-01.png",))
    approved = Decision(status="approved", sha256=(job.files[0].sha256,))
    save_review(out, Review({"fr-FR/MUG-01": approved}))
    to = tmp_path / "delivery"
    result = export_limited(out, to, 200, "--format", "jpeg", "--zip", "--recipe", str(poster))
    assert result.returncode == 0, result.stderr
    assert "Exported 1 file in 1 zip" in result.stdout
    from PIL import Image

    with zipfile.ZipFile(to / "fr-FR.zip") as archive:
        assert archive.namelist() == ["poster/fr-FR/MUG-01.jpg"]
        with archive.open("poster/fr-FR/MUG-01.jpg") as member, Image.open(member) as image:
            assert (image.format, image.size) == ("JPEG", (8192, 8192))
            image.draft("RGB", (1024, 1024))  # decoded small: the test has no limit
            image.load()


def test_8192_pixel_sources_are_read_a_band_at_a_time_or_decoded_reduced(pristine, tmp_path):
    """An API may send more than was asked (kept as sent): a 8192x8192 PNG is read a band of
    rows at a time, a 8192x8192 JPEG decoded at a quarter of its size for a 1080 channel."""
    from PIL import Image

    from runner.deliver.jpeg_strips import JpegWriter

    out = copy_of(pristine, tmp_path)  # a crop (instagram) and a fit (story) of each source
    band = Image.linear_gradient("L").resize((8192, 256)).convert("RGB")  # made a band at a time
    jpeg = io.BytesIO()
    writer = JpegWriter(jpeg, 8192, 8192, 90, None)
    for _ in range(32):
        writer.write(band)
    writer.close()
    agree_on(out, "fr-FR/MUG-01.png", gradient_png(8192, 8192))
    agree_on(out, "de-DE/CAP-02.png", jpeg.getvalue())
    approve_all(out, only=("fr-FR/MUG-01", "de-DE/CAP-02"))  # the two others: not the point
    result = export_limited(out, tmp_path / "delivery", 200)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "delivery/story/fr-FR/MUG-01.png") as image:
        assert image.size == (1080, 1920)
        assert image.getpixel((540, 0)) == (255, 255, 255)  # contain: padded above


def gradient_png(width: int, height: int) -> bytes:
    """An RGB PNG whose row y is grey level y % 256, made without holding its pixels: the 256
    rows of one gradient are deflated once and their stream repeated (each copy ends in a full
    flush, so it refers to nothing before it), the zlib checksum taken over every row."""
    assert height % 256 == 0
    rows = b"".join(b"\0" + bytes([level]) * (3 * width) for level in range(256))
    deflater = zlib.compressobj(1)
    first = deflater.compress(rows) + deflater.flush(zlib.Z_FULL_FLUSH)  # with zlib's header
    again = deflater.compress(rows) + deflater.flush(zlib.Z_FULL_FLUSH)
    assert first[2:] == again
    checksum = 1
    for _ in range(height // 256):
        checksum = zlib.adler32(rows, checksum)
    end = deflater.flush()[:-4] + checksum.to_bytes(4, "big")  # the last block, our checksum
    idat = first + again * (height // 256 - 1) + end
    assert len(zlib.decompressobj().decompress(idat, 1 << 20)) == 1 << 20  # it inflates
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((SIGNATURE, chunk(b"IHDR", header), chunk(b"IDAT", idat), chunk(b"IEND", b"")))


def test_names_that_differ_only_in_unicode_normalisation_are_one_file(tmp_path, capsys):
    nfc = "caf\u00e9"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    folder = tmp_path / "campaign"
    recipe = write_campaign(folder)
    text = recipe.read_text("utf-8")
    text = text.replace("{ code: fr-FR }", f"{{ code: fr-FR, shop: {nfc} }}")
    text = text.replace("{ code: de-DE }", f"{{ code: de-DE, shop: {nfd} }}")
    recipe.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["run", str(recipe), "--emulate", "-y", "-o", str(folder / OUT)])
    assert exc.value.code == 0
    out = folder / OUT
    approve_all(out)
    to = tmp_path / "delivery"
    for extra_args in ((), ("--zip", "--group-by", "product.sku")):
        result = run_cli(
            capsys,
            "export",
            str(out),
            "--to",
            str(to),
            "--name",
            "{{ product.sku }}_{{ market.shop }}",
            *extra_args,
        )
        assert result.code == 2, result.err
        assert "differ only in how their accents are encoded (Unicode NFC and NFD)" in result.err
        assert "one file on macOS and Windows" in result.err
        assert not to.exists()
    case = run_cli(capsys, "export", str(out), "--to", str(to), "--name", "{{ product.sku }}")
    assert case.code == 2 and "would both be named MUG-01.png" in case.err


SEASONS_RECIPE = """\
version: 1
name: deliver-test
defaults: {size: 1024x1024, quality: low, n: 1, output_format: png}
matrix:
  product:
    - { sku: MUG-01, image: images/mug.png }
  market:
    - { code: fr-FR }
  season: [summer, winter]
image: "{{ product.image }}"
prompt: "{{ product.sku }} in {{ market.code }} in {{ season }}"
output: "{{ season }}/{{ market.code }}/{{ product.sku }}"
"""


def test_the_collision_hint_names_the_matrix_value_that_differs(tmp_path, capsys):
    out = emulated_run(tmp_path, extra="", recipe_text=SEASONS_RECIPE)
    name = "{{ product.sku }}_{{ market.code }}"
    result = run_cli(capsys, "export", str(out), "--to", str(tmp_path / "d"), "--name", name)
    assert result.code == 2, result.err
    assert "would both be named MUG-01_fr-FR.png" in result.err
    assert (
        "hint: the two jobs differ in season ('summer' and 'winter'): add it to --name, "
        "e.g. --name '{{ product.sku }}_{{ market.code }}_{{ season }}'" in result.err
    )
    # A --name that has the axis already, but makes its values one name, says so.
    upper = "{{ product.sku }}_{{ season | replace('summer', 'winter') }}"
    same = run_cli(capsys, "export", str(out), "--to", str(tmp_path / "d"), "--name", upper)
    assert same.code == 2, same.err
    assert "--name uses season, whose values here ('summer' and 'winter') give one name" in (
        same.err
    )


def agree_on(out: Path, relative: str, data: bytes) -> None:
    """Put `data` at `relative` as if backdrop had written it: the state, the lock's record and
    the approval all name its hash (a state or review.yaml committed as it came)."""
    (out / relative).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    with sqlite3.connect(out / STATE_DIR / STATE_FILE) as conn:
        conn.execute(
            "UPDATE files SET sha256 = ?, bytes = ? WHERE path = ?", (sha, len(data), relative)
        )
        conn.execute(
            "UPDATE written_files SET sha256 = ?, bytes = ? WHERE path = ?",
            (sha, len(data), relative),
        )
    conn.close()
    approve_all(out)


def test_a_damaged_image_stops_the_export_naming_the_jobs_and_how_to_get_them_again(
    pristine, tmp_path, capsys
):
    copy_campaign(pristine.parents[1], tmp_path)  # it runs the recipe again: the state moved too
    out = tmp_path / OUT
    good = (out / "fr-FR/MUG-01.png").read_bytes()
    agree_on(out, "fr-FR/MUG-01.png", good[: len(good) // 2])
    agree_on(out, "de-DE/CAP-02.png", b"Version https://git-lfs.github.com/spec/v1\n")
    to = tmp_path / "delivery"
    result = run_cli(capsys, "export", str(out), "--to", str(to))
    assert result.code == 2, result.err
    assert "2 approved job(s) have a damaged image, and nothing was exported" in result.err
    assert "fr-FR/MUG-01 (fr-FR/MUG-01.png: it is a damaged PNG image" in result.err
    assert "de-DE/CAP-02 (de-DE/CAP-02.png: it is not a PNG, JPEG or WebP image)" in result.err
    recipe = tmp_path / "recipe.yaml"
    assert "delete the damaged files and run the recipe again" in result.err
    assert (
        f"backdrop run {recipe} --force --include-approved --only product=MUG-01 "
        "--only market=fr-FR" in result.err
    )
    assert not to.exists()
    # The hint holds: deleted and run again, the image comes back (downloaded, not paid) and
    # goes back to review; once approved again, it is delivered.
    (out / "fr-FR/MUG-01.png").unlink()
    (out / "de-DE/CAP-02.png").unlink()
    again = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "-o", str(out))
    assert again.code == 0, again.err
    assert (out / "fr-FR/MUG-01.png").read_bytes() == good
    approve_all(out, only=("fr-FR/MUG-01", "de-DE/CAP-02"))  # the two downloaded again
    again = run_cli(capsys, "export", str(out), "--to", str(to), "--format", "jpeg")
    assert again.code == 0, again.err
    assert "Exported 4 files" in again.out


def test_an_image_found_damaged_while_it_is_resized_stops_the_export_and_leaves_nothing(
    pristine, tmp_path, capsys
):
    """Chunks whole and checksums right, data that does not inflate: only decoding tells."""
    out = copy_of(pristine, tmp_path)
    data = (out / "de-DE/CAP-02.png").read_bytes()
    at = data.index(b"IDAT") + 4
    broken = bytearray(data)
    broken[at + 2 : at + 40] = b"\xff" * 38  # past the zlib header, into the deflate data
    length = int.from_bytes(data[at - 8 : at - 4], "big")
    crc = zlib.crc32(bytes(broken[at - 4 : at + length])) & 0xFFFFFFFF
    broken[at + length : at + length + 4] = crc.to_bytes(4, "big")
    agree_on(out, "de-DE/CAP-02.png", bytes(broken))
    approve_all(out, only=("fr-FR/MUG-01", "de-DE/CAP-02"))  # one job made before it is enough
    to = tmp_path / "delivery"
    # JPEG: the source is decoded the same way whatever is made of it; its files come first.
    result = run_cli(capsys, "export", str(out), "--to", str(to), "--format", "jpeg")
    assert result.code == 2, result.err
    assert "1 approved job(s) have a damaged image" in result.err
    assert "de-DE/CAP-02 (de-DE/CAP-02.png: it is a damaged PNG image" in result.err
    assert not to.exists()  # the files made before it, and the folder made for them, are gone


def test_a_full_export_disk_stops_with_exit_3_and_leaves_no_half_written_file(
    delivered, tmp_path, capsys
):
    out = delivered.out
    total = sum(p.stat().st_size for p in delivered.to.rglob("*") if p.is_file())
    with tmpfs(tmp_path / "disk", "4m") as disk:
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * (free - total // 2))  # room for half of it
        to = disk / "delivery"
        result = run_cli(capsys, "export", str(out), "--to", str(to))
        left = sorted(p.relative_to(disk).as_posix() for p in disk.rglob("*"))
    assert result.code == 3, result.err
    assert f"the disk holding {to} is full" in result.err
    assert left == ["filler"]  # no delivered name, no temporary file, not even the folder


def test_a_stop_signal_mid_export_leaves_no_temporary_or_partial_file(pristine, tmp_path):
    if not hasattr(signal, "SIGTERM") or sys.platform == "win32":
        pytest.skip("no SIGTERM to send on this OS")
    out = copy_of(pristine, tmp_path)
    large = with_channels(out, tmp_path / "large.yaml", "poster: 8192x8192", "print: 6000x6000")
    to = tmp_path / "delivery"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "export",
            str(out),
            "--to",
            str(to),
            "--recipe",
            str(large),
        ],
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (to.is_dir() and staged_files(to)) and proc.poll() is None:
        assert time.monotonic() < deadline, "the export never started writing"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Export stopped (SIGTERM): its temporary files were removed" in err
    assert not staged_files(to)
    delivered = [p for p in to.rglob("*") if p.is_file()]
    assert delivered == []  # nothing is put in place before every file is made


def test_each_delivered_source_is_hashed_once_per_export(delivered):
    assert "Exported 8 files" in delivered.stdout  # 4 jobs x 2 channels, each hashed once
    images = [p.stat().st_ino for p in delivered.out.glob("*/*.png")]
    assert sorted(delivered.hashed) == sorted(images) and len(images) == 4


def test_names_windows_cannot_hold_are_refused(out, tmp_path, capsys):
    for name, said in (
        ("{{ product.sku }}?", "which Windows does not allow in names"),
        ("{{ product.sku }}./{{ market.code }}", "ends with a dot or a space"),
        ("con/{{ product.sku }}", "reserved by Windows"),
    ):
        result = run_cli(capsys, "export", str(out), "--to", str(tmp_path / "d"), "--name", name)
        assert result.code == 2, result.err
        assert said in result.err
    assert not (tmp_path / "d").exists()


def test_zips_are_byte_identical_from_export_to_export_and_hold_only_relative_names(
    out, tmp_path, capsys
):
    made = []
    for folder in ("one", "two"):
        to = tmp_path / folder
        args = ["export", str(out), "--to", str(to), "--zip", "--format", "jpeg"]
        assert run_cli(capsys, *args).code == 0
        made.append({p.name: p.read_bytes() for p in to.iterdir()})
    assert made[0] == made[1]
    with zipfile.ZipFile(tmp_path / "one" / "fr-FR.zip") as archive:
        for info in archive.infolist():
            assert not info.filename.startswith("/") and ".." not in info.filename.split("/")
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
    escape = run_cli(
        capsys, "export", str(out), "--to", str(tmp_path / "three"), "--zip", "--name", "../x"
    )
    assert escape.code == 2 and "goes up a folder" in escape.err


def test_the_record_of_what_export_wrote_keeps_its_format(delivered):
    """`status` reads .backdrop/exports.json: its folders -> path -> SHA-256 mapping stays."""
    import json

    to = delivered.to
    record = json.loads((delivered.out / RECORD_PATH).read_text("utf-8"))
    files = record["folders"][os.path.realpath(to)]
    story = to / "story/fr-FR/MUG-01.png"
    assert files["story/fr-FR/MUG-01.png"] == hashlib.sha256(story.read_bytes()).hexdigest()
    assert record["sizes"][os.path.realpath(to)]["story/fr-FR/MUG-01.png"] == story.stat().st_size
    assert record["format"] == 1


def test_delivered_files_have_the_permissions_the_umask_allows(delivered):
    if sys.platform == "win32":
        pytest.skip("no POSIX permissions")
    to = delivered.to
    mask = os.umask(0o022)
    os.umask(mask)
    for path in (to / MANIFEST_NAME, to / "story/fr-FR/MUG-01.png"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert not any(STAGING_NAME in p.name for p in to.rglob("*"))


@needs_fifo
@pytest.mark.timeout(60)
def test_pipes_in_place_of_exports_own_records_are_ignored_not_waited_on(
    pristine, tmp_path, capsys
):
    """.backdrop/ can come with a pull request: export's record and cache are read with care."""
    from runner.deliver.export_cache import CACHE_PATH

    out = copy_of(pristine, tmp_path)
    for private in (RECORD_PATH, CACHE_PATH):
        (out / private).unlink(missing_ok=True)
        os.mkfifo(out / private)
    # JPEG, one channel: the record and the cache are read and written the same way whatever
    # the format and however many files.
    story = with_channels(out, tmp_path / "story.yaml", "story: {size: 1080x1920, fit: contain}")
    to = tmp_path / "delivery"
    args = ("--to", str(to), "--format", "jpeg", "--recipe", str(story))
    result = run_cli(capsys, "export", str(out), *args)
    assert result.code == 0, result.err
    assert "Exported 4 files" in result.out


def test_a_zip_named_after_a_windows_device_is_a_name_windows_can_hold(tmp_path, capsys):
    text = SEASONS_RECIPE.replace("[summer, winter]", "[CON, nul]")
    text = text.replace('output: "{{ season', 'output: "s-{{ season')
    out = emulated_run(tmp_path, recipe_text=text)
    to = tmp_path / "delivery"
    result = run_cli(capsys, "export", str(out), "--to", str(to), "--zip", "--group-by", "season")
    assert result.code == 0, result.err
    assert sorted(p.name for p in to.iterdir()) == ["_CON.zip", "_nul.zip", MANIFEST_NAME]


def test_a_webp_too_large_to_make_in_bounded_memory_is_refused_before_anything(
    out, tmp_path, capsys
):
    poster = tmp_path / "poster.yaml"
    recipe = (out.parent.parent / "recipe.yaml").read_text("utf-8")
    poster.write_text(recipe.replace("instagram: 1080x1350", "poster: 8192x8192"), "utf-8")
    to = tmp_path / "delivery"
    args = ["export", str(out), "--to", str(to), "--format", "webp", "--recipe", str(poster)]
    result = run_cli(capsys, *args)
    assert result.code == 2, result.err
    assert "4 approved job(s) are too large to export as asked, and nothing was exported" in (
        result.err
    )
    assert "(fr-FR/MUG-01.png for poster: WebP is made in one piece, and 8192x8192" in result.err
    assert "hint: export those channels as PNG or JPEG (--format)" in result.err
    assert not to.exists()
