"""The emulator's in-memory asset bucket: uploads as bytes, results as recipes rendered on demand.

Results are rendered when first downloaded (and a few are kept), so a long demo does not hold
hundreds of megabytes of images. Rendering is deterministic, so a re-download gets the same bytes;
another generation of the same picture gets a variant of its own (see `picture_of`), and so
other bytes, as from the real API.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from PIL import Image

from runner.api.limits import FORMAT_EXTENSIONS
from runner.emulator import compositor
from runner.emulator.render_cache import RenderCache

_Key = TypeVar("_Key", bound=Hashable)
_Made = TypeVar("_Made")

PRESIGN_EXPIRES = 604800  # seven days, as the real temporaryUrl
MIMETYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_RENDER_CACHE_SIZE = 24
_SUBJECT_CACHE_SIZE = 16
_FIT_CACHE_SIZE = 8  # ~2 MB each at 1024 px


@dataclass(frozen=True)
class Upload:
    data: bytes
    mimetype: str


# What a generation paints, but for the variant: a result's rendering inputs, with its subject
# named by the SHA-256 of its bytes (an upload of the same photo again is the same picture).
Picture = tuple[str, str, str, str, int]


@dataclass(frozen=True)
class ResultSpec:
    """Everything that determines a result image's bytes."""

    source: str  # an asset key, or "url:<https URL>" for a placeholder subject
    prompt: str
    size: str
    output_format: str
    compression: int
    # Which image of this picture: 0, 1, ... over every generation of it (EmulatorApi.generate)
    variant: int
    cached: bool  # cache_results: bytes depend on (size, format) only

    @property
    def mimetype(self) -> str:
        return MIMETYPES[self.output_format]


class AssetStore:
    def __init__(self, secret: bytes, render_cache: RenderCache | None = None) -> None:
        self.secret = secret
        self.render_cache = render_cache
        self._source_digests: dict[str, str] = {}
        self.uploads: dict[str, Upload] = {}
        self.results: dict[str, ResultSpec] = {}
        # Uploads an earlier emulator saved (state_dir): read from disk when asked for.
        self.saved_uploads: dict[str, tuple[Path, str]] = {}
        # Uploads the API has forgotten (expired): unknown as an imageUrl and to the asset host,
        # their bytes kept only to render the results made from them earlier.
        self.forgotten: set[str] = set()
        self._rendered: OrderedDict[ResultSpec, bytes] = OrderedDict()
        self._subjects: OrderedDict[str, Image.Image] = OrderedDict()
        self._fits: OrderedDict[tuple[str, tuple[int, int]], compositor.Fitted] = OrderedDict()
        self._placeholders: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()  # renders run in worker threads
        # One lock per image being rendered, with the number of threads that want it.
        self._rendering: dict[Hashable, tuple[threading.Lock, int]] = {}
        self._counter = 0

    def restore(
        self, uploads: Mapping[str, tuple[Path, str]], results: Mapping[str, ResultSpec]
    ) -> None:
        """Know what an earlier emulator stored (see persist.py)."""
        self.saved_uploads.update(uploads)
        self.results.update(results)
        self._counter = max(self._counter, len(self.saved_uploads) + len(self.results))

    def new_key(self, stem: str, extension: str) -> str:
        """images/2026_11_27_14_03_09_512_<counter>_<stem>.<ext>, like 1min.ai's keys."""
        self._counter += 1
        stamp = datetime.now(UTC).strftime("%Y_%m_%d_%H_%M_%S_%f")[:-3]
        return f"images/{stamp}_{self._counter}_{stem}.{extension}"

    def add_upload(
        self, filename: str, data: bytes, mimetype: str, extension: str, sha256: str | None = None
    ) -> str:
        key = self.upload_key(filename, extension)
        self.keep_upload(key, Upload(data, mimetype), sha256)
        return key

    def keep_upload(self, key: str, upload: Upload, sha256: str | None = None) -> None:
        """Store an upload under `key`; `sha256` (of its bytes) when known saves hashing it."""
        self.uploads[key] = upload
        if sha256 is not None:
            self._source_digests[key] = sha256

    def upload_key(self, filename: str, extension: str) -> str:
        return self.new_key(_safe_stem(filename), extension)

    def add_result(self, spec: ResultSpec) -> str:
        key = self.new_key("background_replaced", FORMAT_EXTENSIONS[spec.output_format])
        self.results[key] = spec
        return key

    def exists(self, key: str) -> bool:
        if key in self.forgotten:
            return False
        return key in self.uploads or key in self.results or key in self.saved_uploads

    def forget_uploads(self) -> list[str]:
        """Forget every upload so far, as expiring assets are; returns their keys."""
        keys = sorted((self.uploads.keys() | self.saved_uploads.keys()) - self.forgotten)
        self.forgotten.update(keys)
        return keys

    def read(self, key: str) -> tuple[bytes, str] | None:
        """The bytes and MIME type of a stored key (rendering a result if needed), or None."""
        upload = self.uploads.get(key)
        if upload is not None:
            return upload.data, upload.mimetype
        spec = self.results.get(key)
        if spec is None:
            return self._read_saved_upload(key)
        return self.render(spec), spec.mimetype

    def _read_saved_upload(self, key: str) -> tuple[bytes, str] | None:
        saved = self.saved_uploads.get(key)
        if saved is None:
            return None
        path, mimetype = saved
        try:
            return path.read_bytes(), mimetype
        except OSError:  # removed behind our back: as if never uploaded
            return None

    def peek(self, key: str) -> tuple[bytes, str] | None:
        """Like read, but only when neither rendering nor disk is needed (no worker thread)."""
        upload = self.uploads.get(key)
        if upload is not None:
            return upload.data, upload.mimetype
        spec = self.results.get(key)
        if spec is None:
            return None
        with self._lock:
            if spec.cached:
                data = self._placeholders.get((spec.size, spec.output_format, spec.compression))
            else:
                data = self._rendered.get(spec)
        return None if data is None else (data, spec.mimetype)

    def render(self, spec: ResultSpec) -> bytes:
        if spec.cached:
            return self._placeholder(spec.size, spec.output_format, spec.compression)
        return self._made_once(
            self._rendered,
            spec,
            lambda: self._through_cache(self._shared_key(spec), lambda: self._compose(spec)),
            _RENDER_CACHE_SIZE,
        )

    def _made_once(
        self,
        kept: OrderedDict[_Key, _Made],
        key: _Key,
        make: Callable[[], _Made],
        limit: int | None = None,
    ) -> _Made:
        """kept[key], made by make() when it is not there: once, however many threads ask for
        it together (they wait for the first and read what it made); past `limit` entries (if
        any) the least recently used one goes."""
        with self._lock:
            made = kept.get(key)
            if made is not None:
                kept.move_to_end(key)
                return made
        with self._one_render((id(kept), key)):
            with self._lock:
                made = kept.get(key)  # made by the thread this one waited for
            if made is None:
                made = make()
            with self._lock:
                kept[key] = made
                kept.move_to_end(key)
                while limit is not None and len(kept) > limit:
                    kept.popitem(last=False)
        return made

    @contextmanager
    def _one_render(self, image: Hashable) -> Iterator[None]:
        """Held while `image` is rendered: the downloads of one image that arrive together (the
        first answers of a cache_results run are all the same placeholder) wait for one render
        and read it, instead of each rendering it again."""
        with self._lock:
            gate, waiting = self._rendering.get(image, (threading.Lock(), 0))
            self._rendering[image] = (gate, waiting + 1)
        try:
            with gate:
                yield
        finally:
            with self._lock:
                gate, waiting = self._rendering[image]
                if waiting == 1:
                    del self._rendering[image]
                else:
                    self._rendering[image] = (gate, waiting - 1)

    def _through_cache(self, key: str | None, render: Callable[[], bytes]) -> bytes:
        """What render() gives, read from the shared render cache when another emulator has
        already rendered it (key None: no cache, always render)."""
        if self.render_cache is None or key is None:
            return render()
        return self.render_cache.fetch(key, render)

    def _compose(self, spec: ResultSpec) -> bytes:
        return compositor.replace_background(
            self.subject(spec.source),
            prompt=spec.prompt,
            size=spec.size,
            output_format=spec.output_format,
            compression=spec.compression,
            variant=spec.variant,
            fit=functools.partial(self._fitted, spec.source),
        )

    def _fitted(
        self, source: str, subject: Image.Image, size: tuple[int, int]
    ) -> compositor.Fitted:
        """The subject of `source` scaled to `size`, kept for the next render that asks: every
        first image of a photo's pictures at one canvas size places it the same way."""
        # A run's first downloads all want the same one: made once.
        make = functools.partial(compositor.fit_subject, subject, size)
        return self._made_once(self._fits, (source, size), make, _FIT_CACHE_SIZE)

    def _shared_key(self, spec: ResultSpec) -> str | None:
        """The render cache's name for this result (None without a cache, or a source)."""
        if self.render_cache is None:
            return None
        digest = self.source_digest(spec.source)
        if digest is None:
            return None
        return self.render_cache.key(
            digest, spec.prompt, spec.size, spec.output_format, spec.compression, spec.variant
        )

    def picture_of(self, spec: ResultSpec) -> Picture:
        """What `spec` paints, but for its variant: the generations of one picture share it."""
        digest = self.source_digest(spec.source) or spec.source  # bytes gone: its key then
        return (digest, spec.prompt, spec.size, spec.output_format, spec.compression)

    def source_digest(self, source: str) -> str | None:
        """The SHA-256 of a source's bytes ("url:..." stands for itself); None when unreadable."""
        digest = self._source_digests.get(source)
        if digest is not None:
            return digest
        if source.startswith("url:"):
            digest = source
        elif source in self.saved_uploads and source not in self.uploads:
            digest = self.saved_uploads[source][0].name  # saved under its SHA-256 (persist.py)
        else:
            data = self.read(source)
            if data is None:
                return None
            digest = hashlib.sha256(data[0]).hexdigest()
        self._source_digests[source] = digest
        return digest

    def subject(self, source: str) -> Image.Image:
        with self._lock:
            subject = self._subjects.get(source)
            if subject is not None:
                self._subjects.move_to_end(source)
                return subject
        if source.startswith("url:"):
            subject = compositor.placeholder_subject(source)
        else:
            data = self.read(source)
            assert data is not None, source
            subject = compositor.load_subject(data[0])
        with self._lock:
            self._subjects[source] = subject
            while len(self._subjects) > _SUBJECT_CACHE_SIZE:
                self._subjects.popitem(last=False)
        return subject

    def _placeholder(self, size: str, output_format: str, compression: int) -> bytes:
        def render() -> bytes:
            shared = None
            if self.render_cache is not None:
                shared = self.render_cache.key("cache_results", size, output_format, compression)
            return self._through_cache(
                shared,
                lambda: compositor.replace_background(
                    compositor.placeholder_subject("cached"),
                    prompt="cached result",
                    size=size,
                    output_format=output_format,
                    compression=compression,
                ),
            )

        # All kept: few, and every cache_results answer names one of them.
        return self._made_once(self._placeholders, (size, output_format, compression), render)

    # Presigned links, shaped like S3's (the real temporaryUrl is an S3 presigned URL).

    def presign_query(self, key: str, now: datetime | None = None) -> str:
        signed_at = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        credential = quote(f"EMULATOR/{signed_at[:8]}/local/s3/aws4_request", safe="")
        return (
            f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}"
            f"&X-Amz-Date={signed_at}&X-Amz-Expires={PRESIGN_EXPIRES}&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={self._signature(key, signed_at, str(PRESIGN_EXPIRES))}"
        )

    def check_presigned(self, key: str, signed_at: str, expires: str, signature: str) -> str | None:
        """Why a presigned link is refused, or None when it is valid."""
        expected = self._signature(key, signed_at, expires)
        if not hmac.compare_digest(expected, signature):
            return "SignatureDoesNotMatch"
        try:
            start = datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if datetime.now(UTC) > start + timedelta(seconds=int(expires)):
                return "AccessDenied: Request has expired"
        except ValueError:
            return "AuthorizationQueryParametersError"
        return None

    def _signature(self, key: str, signed_at: str, expires: str) -> str:
        message = f"{key}\n{signed_at}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def _safe_stem(filename: str) -> str:
    stem = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0]
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:60]
    return cleaned or "upload"
