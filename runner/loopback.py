"""Local HTTP servers on loopback sockets (uvicorn), shared by the emulator and the review page.

Both bind a socket first (port 0 picks a free port with no race), then serve it either in the
foreground or in a daemon thread that `start` waits for and `stop` ends within a bound.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    import uvicorn

STARTUP_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 10.0


def uvicorn_server(app: object, *, graceful_shutdown: int, keep_alive: int = 5) -> uvicorn.Server:
    """A quiet HTTP/1.1 uvicorn server for `app`: no websockets, lifespan or access log."""
    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=graceful_shutdown,
        timeout_keep_alive=keep_alive,
    )
    return uvicorn.Server(config)


# A restarted server may take its port back at once (SO_REUSEADDR). Not on Windows, where that
# option lets a second socket take a port in use, so that a busy --port would go unnoticed:
# there, no other socket may share the port at all.
_REUSE = (
    (socket.SO_EXCLUSIVEADDRUSE, 1)
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE")
    else (socket.SO_REUSEADDR, 1)
)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free port with no race between choosing and binding."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio turns Nagle off (TCP_NODELAY) only on sockets that do, and
    # with Nagle on, every small answer waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, *_REUSE)
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise  # e.g. EADDRINUSE; its strerror says why, for the caller to word
    sock.set_inheritable(True)
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ServerThread:
    """A uvicorn server on a bound socket, in a daemon thread."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket, name: str) -> None:
        self.server, self.sock = server, sock
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )

    def start(self, what: str) -> None:
        """Serve, once uvicorn says it started; RuntimeError naming `what` when it does not."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} did not start on {base_url_of(self.sock)}")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving; requests in flight get a few seconds to finish."""
        self.server.should_exit = True
        self._thread.join(SHUTDOWN_TIMEOUT)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(SHUTDOWN_TIMEOUT)
        self.sock.close()


class BackgroundServer:
    """start(), stop() and `with` for a local server. Subclasses build it in start(); those served
    in a daemon thread hand it to _serve(), others (a child process) override stop() too."""

    _serving: ServerThread | None = None

    def start(self) -> None:
        raise NotImplementedError

    def _serve(self, server: uvicorn.Server, sock: socket.socket, name: str, what: str) -> None:
        self._serving = ServerThread(server, sock, name)
        try:
            self._serving.start(what)
        except RuntimeError:
            self._serving = None
            raise

    def stop(self) -> None:
        """Stop serving; requests in flight get a few seconds to finish."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
