"""Turn a rendered `image:` value into an ImageSource: a local file, an https:// URL or an asset."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from runner.api.limits import MAX_UPLOAD_BYTES, SOURCE_FORMATS
from runner.pastedtext import TYPOGRAPHIC_QUOTES
from runner.plan.nearby_files import NearbyFiles
from runner.plan.plan_model import ImageSource

ASSET_PREFIX = "asset:"
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
)


class ImageProblem(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def sniff_format(head: bytes) -> str | None:
    """PNG, JPEG or WEBP from a file's first bytes, or None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


class ImageResolver:
    """Resolves image references; each distinct file is read, checked and hashed once."""

    def __init__(self, base_dir: Path, roots: tuple[Path, ...] | None = None) -> None:
        from runner.recipe.files import data_roots

        self._base = base_dir
        # The folders images may come from (after following symlinks): the recipe's project.
        self._roots = roots if roots is not None else data_roots(base_dir)
        self._seen: dict[str, ImageSource | ImageProblem] = {}
        self._nearby = NearbyFiles(base_dir, self._roots)

    def resolve(self, rendered: str) -> ImageSource:
        """The ImageSource for a rendered `image:` value; raises ImageProblem."""
        found = self._seen.get(rendered)
        if found is None:
            try:
                found = self._resolve(rendered.strip())
            except ImageProblem as problem:
                found = problem
            self._seen[rendered] = found
        if isinstance(found, ImageProblem):
            raise found
        return found

    def _resolve(self, ref: str) -> ImageSource:
        if not ref:
            raise ImageProblem(
                "the image is empty", "give a file path, an https:// URL or asset:..."
            )
        lowered = ref.lower()
        if lowered.startswith(ASSET_PREFIX):
            key = ref[len(ASSET_PREFIX) :].strip()
            if not key:
                raise ImageProblem("the asset key after 'asset:' is empty")
            return ImageSource("asset", key)
        if lowered.startswith("http://"):
            raise ImageProblem(
                f"{ref} uses http://, which is not allowed",
                "use the https:// address of the image",
            )
        if lowered.startswith("https://"):
            if not _split_url(ref).netloc:
                raise ImageProblem(f"{ref} is not a complete https:// address")
            return ImageSource("url", ref)
        scheme = _split_url(ref).scheme
        if "://" in ref or (len(scheme) > 1 and scheme.isalpha() and ":" in ref[:12]):
            raise ImageProblem(
                f"{ref} is neither a file path, an https:// URL nor an asset:... key",
                "use a path relative to the recipe, an https:// URL, or asset:images/...",
            )
        return self._local(ref)

    def _local(self, ref: str) -> ImageSource:
        from runner.recipe.files import FileProblem, confine, printable, read_bounded

        path = Path(os.path.normpath(self._base / ref))
        limit = MAX_UPLOAD_BYTES // (1024 * 1024)
        try:
            data = read_bounded(confine(path, self._roots), MAX_UPLOAD_BYTES)
        except FileProblem as problem:
            ref = printable(ref)
            if problem.kind == "missing":
                hint = (
                    "image paths are relative to the recipe file; check the spelling and the folder"
                )
                if any(quote in ref for quote in TYPOGRAPHIC_QUOTES):
                    # A word processor's quotes are part of the text to YAML, not quotes.
                    hint = 'curly quotes are part of the path: quote with straight ones, "..."'
                meant = self._nearby.suggest(ref)
                suffix = f" (did you mean '{printable(meant)}'?)" if meant else ""
                raise ImageProblem(f"the image {ref} does not exist{suffix}", hint) from None
            if problem.kind == "large":
                message = f"the image {ref} is larger than the API's {limit} MB limit"
                raise ImageProblem(message) from None
            raise ImageProblem(f"the image {ref} {problem.message}", problem.hint) from None
        sniffed = sniff_format(data[:16])
        if sniffed is None:
            raise ImageProblem(
                f"{ref} is not a PNG, JPEG or WebP image",
                "export the image as PNG, JPEG or WebP",
            )
        verified = _verify(data)  # the bytes hashed below, not a second read of the file
        if isinstance(verified, tuple):
            width, height = verified
            raise ImageProblem(
                f"the image {ref} is too large ({width} x {height} pixels)",
                "scale it down in an image editor (the generated images are at most 1536 "
                "pixels wide)",
            )
        if verified != sniffed:
            raise ImageProblem(
                f"{ref} looks like {sniffed} but cannot be read as one (damaged or truncated?)",
                "open it in an image editor and export it again",
            )
        digest = hashlib.sha256(data).hexdigest()
        return ImageSource("file", ref, path, digest, SOURCE_FORMATS[sniffed])


def _split_url(ref: str) -> SplitResult:
    """urlsplit, with what it refuses (an IPv6 host's unclosed bracket) as an ImageProblem."""
    try:
        return urlsplit(ref)
    except ValueError as exc:
        raise ImageProblem(
            f"{ref} is not a valid address: brackets [ ] in its host are unpaired or hold no "
            f"IPv6 address ({exc})",
            "check the address; brackets belong only around an IPv6 host, in pairs",
        ) from None


def _verify(data: bytes) -> str | tuple[int, int] | None:
    """Pillow's format name when Pillow can open and verify the file, else None.

    A (width, height) when Pillow refuses the image as a decompression bomb: that is a real
    image, just far too large, and must not be called damaged.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decompression-bomb warnings: we never decode here
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
                image.verify()
    except Image.DecompressionBombError:
        return _dimensions(data)
    except Exception:  # Pillow raises many kinds for damaged files; all mean "unreadable"
        return None
    return fmt


def _dimensions(data: bytes) -> tuple[int, int] | None:
    """An image's size from its header alone (no bomb check: nothing is decoded)."""
    from PIL import ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

    plugins: tuple[type[ImageFile.ImageFile], ...] = (
        PngImagePlugin.PngImageFile,
        JpegImagePlugin.JpegImageFile,
        WebPImagePlugin.WebPImageFile,
    )
    for plugin in plugins:
        try:
            with plugin(io.BytesIO(data)) as image:
                return image.size
        except Exception:  # not this format
            continue
    return None
