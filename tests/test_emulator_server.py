"""The emulator over real loopback sockets (uvicorn in a thread), and its configuration parsing."""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading

import httpx
import pytest

from runner.emulator.app import create_app
from runner.emulator.config import (
    DEFAULT_CREDIT_LIMIT,
    EmulatorConfig,
    config_from_options,
    parse_latency,
    parse_probability,
)
from runner.emulator.faults import InjectedDisconnect
from runner.emulator.server import (
    EmulatorProcess,
    EmulatorServer,
    check_host,
    config_from_json,
    config_to_json,
    serve_forever,
)
from runner.loopback import bind_socket
from tests.platforms import WINDOWS

from .emulator_support import KEY, decode, feature_body, run, studio_photo


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "backdrop-emulator"]


def test_round_trip_over_loopback() -> None:
    async def scenario(server: EmulatorServer) -> tuple[dict, bytes, list]:
        async with httpx.AsyncClient(base_url=server.base_url, headers={"API-KEY": KEY}) as client:
            files = {"asset": ("mug.jpg", studio_photo("JPEG"), "image/jpeg")}
            asset = (await client.post("/api/assets", files=files)).json()["asset"]
            assert asset["location"] == f"{server.asset_base_url}/{asset['key']}"
            body = feature_body(asset["key"], size="1024x1536", output_format="webp", n=2)
            answer = await client.post("/api/features", json=body)
            assert answer.status_code == 200
            record = answer.json()["aiRecord"]
            image = (await client.get(record["temporaryUrl"])).content
            ledger = (await client.get("/_emulator/ledger")).json()
            return record, image, ledger

    with EmulatorServer(EmulatorConfig(api_key=KEY)) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert _emulator_threads()
        record, image, ledger = run(scenario(server))
        assert server.api.ledger.used == 2000
    assert not _emulator_threads()  # stopped cleanly
    assert record["temporaryUrl"].startswith(f"{server.base_url}/asset/images/")
    decoded = decode(image)
    assert (decoded.format, decoded.size) == ("WEBP", (1024, 1536))
    assert [(e["seq"], e["n"], e["credits"]) for e in ledger] == [(1, 2, 2000)]


def test_dropped_connection_is_a_protocol_error_over_loopback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(server: EmulatorServer) -> None:
        async with httpx.AsyncClient(base_url=server.base_url, headers={"API-KEY": KEY}) as client:
            for _ in range(2):
                with pytest.raises(httpx.RemoteProtocolError) as caught:
                    await client.post("/api/features", json=feature_body("https://x.test/a.png"))
                # httpx's own error from the socket, not the emulator's exception object
                assert not isinstance(caught.value, InjectedDisconnect)
            stats = (await client.get("/_emulator/stats")).json()
            assert stats["dropped"] == 2 and stats["charged"] == 0

    caplog.set_level(logging.INFO)
    with EmulatorServer(EmulatorConfig(drop_rate=1.0)) as server:
        run(scenario(server))
    assert "Exception in ASGI application" not in caplog.text  # deliberate hang-ups aren't logged


def test_truncated_download_sends_fewer_bytes_than_content_length() -> None:
    async def scenario(server: EmulatorServer) -> tuple[int, int]:
        async with httpx.AsyncClient(base_url=server.base_url, headers={"API-KEY": KEY}) as client:
            files = {"asset": ("mug.png", studio_photo(), "image/png")}
            key = (await client.post("/api/assets", files=files)).json()["asset"]["key"]
            received = 0
            async with client.stream("GET", f"/asset/{key}") as response:
                declared = int(response.headers["content-length"])
                with pytest.raises(httpx.RemoteProtocolError):
                    async for chunk in response.aiter_raw():
                        received += len(chunk)
            return declared, received

    with EmulatorServer(EmulatorConfig(truncate_rate=1.0, seed=5)) as server:
        declared, received = run(scenario(server))
    assert declared == len(studio_photo())
    assert 0 < received < declared


def test_429_over_loopback_carries_retry_after() -> None:
    async def scenario(server: EmulatorServer) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, headers={"API-KEY": KEY}) as client:
            body = feature_body("https://x.test/a.png")
            return [await client.post("/api/features", json=body) for _ in range(4)]

    with EmulatorServer(EmulatorConfig(rpm_limit=3)) as server:
        answers = run(scenario(server))
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[3].headers["retry-after"]) >= 1


def test_two_servers_get_their_own_free_ports() -> None:
    with EmulatorServer() as first, EmulatorServer() as second:
        assert first.base_url != second.base_url
        for server in (first, second):
            assert httpx.get(f"{server.base_url}/_emulator/ledger").json() == []
    assert not _emulator_threads()


def test_a_busy_port_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as caught:
            EmulatorServer(port=port).start()
        assert caught.value.errno == errno.EADDRINUSE
    assert not _emulator_threads()


def test_base_url_needs_a_running_server() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = EmulatorServer().base_url


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="only on loopback"):
        EmulatorServer(host=host)
    with pytest.raises(ValueError, match="only on loopback"):
        serve_forever(EmulatorConfig(), host=host, port=0)
    check_host(host, allow_remote=True)  # allowed when asked explicitly


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_are_fine(host: str) -> None:
    check_host(host)


def test_parse_latency() -> None:
    assert parse_latency("0.2") == 0.2
    assert parse_latency("0.1-0.5") == (0.1, 0.5)
    assert parse_latency("1s") == 1.0
    for bad in ("fast", "0.5-0.1", "-1", "nan", "1-x"):
        with pytest.raises(ValueError, match="latency"):
            parse_latency(bad)


def test_parse_probability() -> None:
    assert parse_probability("error rate", "0.2") == 0.2
    assert parse_probability("error rate", "20%") == 0.2
    with pytest.raises(ValueError, match="error rate must be a probability between 0 and 1"):
        parse_probability("error rate", "1.5")
    with pytest.raises(ValueError, match="drop rate 'often' is not a number"):
        parse_probability("drop rate", "often")


def test_config_from_options_and_validation() -> None:
    config = config_from_options(latency="0.1-0.3", error_rate="20%", rpm_limit=600, seed=1)
    assert config.latency == (0.1, 0.3)
    assert config.error_rate == 0.2 and config.rpm_limit == 600 and config.seed == 1
    assert config.credit_limit == DEFAULT_CREDIT_LIMIT and config.retry_after
    with pytest.raises(ValueError, match="drop_rate must be a probability"):
        EmulatorConfig(drop_rate=2)
    with pytest.raises(ValueError, match="rpm_limit"):
        EmulatorConfig(rpm_limit=0)
    with pytest.raises(ValueError, match="latency"):
        EmulatorConfig(latency=(0.5, 0.1))
    with pytest.raises(ValueError, match="asset_base_url"):
        EmulatorConfig(asset_base_url="asset.example.com")


def test_listening_socket_is_tcp_so_asyncio_turns_nagle_off() -> None:
    # asyncio sets TCP_NODELAY only on sockets whose proto is TCP; without it every small
    # answer waited ~40 ms for the client's delayed ACK.
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_client_disconnect_mid_request_is_counted_not_raised() -> None:
    app = create_app()
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/features",
        "raw_path": b"/api/features",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"api-key", KEY.encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    run(app(scope, receive, send))
    assert sent == []
    stats = app.state.emulator.stats.to_json()
    assert stats["routes"]["POST /api/features"] == {"client disconnected": 1}


def test_config_survives_json() -> None:
    config = EmulatorConfig(latency=(0.1, 0.2), rpm_limit=60, seed=3, cache_results=True)
    assert config_from_json(config_to_json(config)) == config


def test_emulator_in_a_child_process() -> None:
    config = EmulatorConfig(credit_limit=3000, seed=1)
    with EmulatorProcess(config) as emulator:
        pid = emulator.pid
        headers = {"API-KEY": KEY}
        body = feature_body("https://x.test/a.png", quality="low")
        with httpx.Client(base_url=emulator.base_url, headers=headers) as client:
            assert client.post("/api/features", json=body).status_code == 200
            ledger = client.get("/_emulator/ledger").json()
            stats = client.get("/_emulator/stats").json()
    assert [entry["credits"] for entry in ledger] == [1000]
    assert stats["credit_limit"] == 3000
    assert pid is not None and emulator.pid is None
    if not WINDOWS:  # where os.kill(pid, 0) terminates a process instead of probing it
        with pytest.raises(ProcessLookupError):  # stopped and reaped
            os.kill(pid, 0)
