"""The review app on a loopback port (uvicorn), in the foreground or in a background thread."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from runner.loopback import BackgroundServer, base_url_of, bind_socket, uvicorn_server
from runner.records.run_records import RunSnapshot

if TYPE_CHECKING:
    import socket

    import uvicorn

    from runner.review.review_app import ImagesAt, ReviewSite

HOST = "127.0.0.1"  # never anything else: the page can change the team's decisions


def new_token() -> str:
    return secrets.token_urlsafe(24)


def state_images(output_dir: Path) -> Callable[[tuple[str, ...]], tuple[str | None, ...]]:
    """What a click checks a decision against: the images the state records at the outputs."""
    from runner.records.state import StateStore

    def images_at(outputs: tuple[str, ...]) -> tuple[str | None, ...]:
        found = {f.path: f.sha256 for f in StateStore.read_latest_files(output_dir, outputs)}
        return tuple(found.get(output) for output in outputs)

    return images_at


class ReviewServer(BackgroundServer):
    """`with ReviewServer(outdir, load_snapshot) as server: server.url` serves the review page."""

    def __init__(
        self,
        output_dir: Path,
        load_snapshot: Callable[[], RunSnapshot],
        *,
        port: int = 0,
        token: str | None = None,
        images_at: ImagesAt | None = None,
        page_size: int | None = None,
    ) -> None:
        self.output_dir = Path(output_dir).resolve()
        self.load_snapshot = load_snapshot
        self.images_at = images_at
        self.page_size = page_size  # jobs per page; None: the page's own (listing.PAGE_SIZE)
        self.port = port
        self.token = token or new_token()
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self.base_url = ""

    @property
    def url(self) -> str:
        """The page's address, with the token; the only way in."""
        return f"{self.base_url}/?token={self.token}"

    def bind(self) -> None:
        """Listen on the port (OSError when it is taken) and build the app for it."""
        from runner.review.review_app import ReviewSite, create_review_app, loopback_origins

        sock = self._sock = bind_socket(HOST, self.port)
        self.base_url = base_url_of(sock)
        port = sock.getsockname()[1]
        site = ReviewSite(
            self.output_dir,
            self.token,
            loopback_origins(port),
            self.load_snapshot,
            self.images_at,
        )
        if self.page_size is not None:
            site = replace(site, page_size=self.page_size)
        self.site: ReviewSite = site
        self._server = _uvicorn_server(create_review_app(site))

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C, then return normally."""
        if self._server is None:
            self.bind()
        assert self._server is not None and self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled gracefully
            pass
        finally:
            self._sock.close()

    def start(self) -> None:
        self.bind()
        assert self._server is not None and self._sock is not None
        self._serve(self._server, self._sock, "backdrop-review", "the review page")


def _uvicorn_server(app: object) -> uvicorn.Server:
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    return uvicorn_server(app, graceful_shutdown=2)
