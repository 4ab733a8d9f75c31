"""The emulator on real loopback sockets (uvicorn): in a background thread, or in the foreground."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.emulator.config import EmulatorConfig
from runner.emulator.faults import InjectedDisconnect
from runner.loopback import (
    SHUTDOWN_TIMEOUT,
    BackgroundServer,
    base_url_of,
    bind_socket,
    uvicorn_server,
)

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

    from runner.emulator.app import EmulatorApi


class _HideInjectedFaults(logging.Filter):
    """uvicorn logs every exception an app raises; ours are deliberate hang-ups, not errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDisconnect))


_FILTER = _HideInjectedFaults()


def check_host(host: str, allow_remote: bool = False) -> None:
    """Refuse to listen beyond this machine unless asked to explicitly."""
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address; use 127.0.0.1 or ::1") from None
    if not loopback:
        raise ValueError(
            f"the emulator accepts any API key, so it listens only on loopback (127.0.0.1 or ::1), "
            f"not {host}"
        )


def _uvicorn_server(app: Starlette) -> uvicorn.Server:
    logging.getLogger("uvicorn.error").addFilter(_FILTER)  # adding twice is a no-op
    # Clients keep pooled connections: don't close them under load.
    return uvicorn_server(app, graceful_shutdown=5, keep_alive=30)


class EmulatorServer(BackgroundServer):
    """The emulator on a loopback port, in a background thread. Use it as a context manager:

    with EmulatorServer(EmulatorConfig(error_rate=0.2), port=0) as server:
        run(api_url=server.base_url, asset_url=server.asset_base_url)
        server.api.ledger.entries  # what was charged
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
    ) -> None:
        from runner.emulator.app import create_app

        check_host(host, allow_remote)
        self.config = config or EmulatorConfig()
        self.host, self.port = host, port
        self.app = create_app(self.config)
        self._base_url: str | None = None

    @property
    def api(self) -> EmulatorApi:
        """The running emulator's state: ledger, stats and store (read it; don't mutate it)."""
        api: EmulatorApi = self.app.state.emulator
        return api

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the emulator is not running; use it in a `with` block")
        return self._base_url

    @property
    def asset_base_url(self) -> str:
        return (self.config.asset_base_url or f"{self.base_url}/asset").rstrip("/")

    def start(self) -> None:
        if self._serving is not None:
            raise RuntimeError("the emulator is already running")
        sock = bind_socket(self.host, self.port)
        self._base_url = base_url_of(sock)
        self._serve(_uvicorn_server(self.app), sock, "backdrop-emulator", "the emulator")


def serve_forever(
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    allow_remote: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until Ctrl-C (then return normally) - for `backdrop emulator`.

    `on_ready(base_url)` is called once the port is listening (port 0 picks a free one).
    Raises ValueError for a non-loopback host and OSError when the port cannot be bound.
    """
    from runner.emulator.app import create_app

    check_host(host, allow_remote)
    sock = bind_socket(host, port)
    server = _uvicorn_server(create_app(config or EmulatorConfig()))
    if on_ready is not None:
        on_ready(base_url_of(sock))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled gracefully
        pass
    finally:
        sock.close()


def config_to_json(config: EmulatorConfig) -> str:
    data = dataclasses.asdict(config)
    data["credits_per_image"] = dict(config.credits_per_image)
    for name in ("state_dir", "render_cache"):
        if data[name] is not None:
            data[name] = str(data[name])
    return json.dumps(data)


def config_from_json(text: str) -> EmulatorConfig:
    data: dict[str, Any] = json.loads(text)
    for name in ("latency", "refusal_delay", "queue_timeout", "transfer_latency"):
        if isinstance(data.get(name), list):  # a (low, high) range
            data[name] = tuple(data[name])
    for name in ("state_dir", "render_cache"):
        if data.get(name) is not None:
            data[name] = Path(data[name])
    return EmulatorConfig(**data)


class EmulatorProcess(BackgroundServer):
    """The emulator in a child process, with its own interpreter (and GIL): for benchmarks, where
    an emulator thread would compete with the runner for the GIL. Same interface as
    EmulatorServer, minus `api`: read the ledger and stats over HTTP (/_emulator/...).
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        check_host(host)
        self.config = config or EmulatorConfig()
        self.host, self.port = host, port
        self._process: subprocess.Popen[str] | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the emulator is not running; use it in a `with` block")
        return self._base_url

    @property
    def asset_base_url(self) -> str:
        return (self.config.asset_base_url or f"{self.base_url}/asset").rstrip("/")

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("the emulator is already running")
        command = [sys.executable, "-m", "runner.emulator.server", config_to_json(self.config)]
        command += [self.host, str(self.port)]
        process = self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        line = process.stdout.readline().strip()  # the base URL, once listening
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the emulator process did not start (it said {line!r})")
        self._base_url = line

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        self._process = None


def _main(argv: list[str]) -> None:
    """`python -m runner.emulator.server CONFIG_JSON HOST PORT`: prints the base URL when ready."""
    config_json, host, port = argv
    serve_forever(
        config_from_json(config_json),
        host,
        int(port),
        on_ready=lambda url: print(url, flush=True),
    )


if __name__ == "__main__":
    _main(sys.argv[1:])
