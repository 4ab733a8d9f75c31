"""A concurrency cap that queues (--queue-timeout): the real emulator over loopback, and a run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from runner.emulator.config import EmulatorConfig, config_from_options
from runner.emulator.server import EmulatorServer, config_from_json, config_to_json

from .clihelp import run_cli
from .emulator_support import KEY, feature_body, run, studio_photo, upload
from .runhelp import answers, fast_options, ledger, make_plan
from .runhelp import run as run_backdrop

GENERATION = "POST /api/features"


async def until(condition: Callable[[], bool], deadline: float = 30.0) -> None:
    """Wait for the emulator (in its own thread) to reach a state, however loaded the machine."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while not condition():
        assert loop.time() < give_up, "the emulator never got there"
        await asyncio.sleep(0.005)


def client(server: EmulatorServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers={"API-KEY": KEY}, timeout=60)


def generate(http: httpx.AsyncClient, key: str, prompt: str) -> asyncio.Task[httpx.Response]:
    body = feature_body(key, prompt=prompt)
    return asyncio.ensure_future(http.post("/api/features", json=body))


async def fill_the_cap(
    server: EmulatorServer, http: httpx.AsyncClient, key: str
) -> list[asyncio.Task[httpx.Response]]:
    """Two generations (the cap) being answered."""
    held = [generate(http, key, "first"), generate(http, key, "second")]
    await until(lambda: server.api.busy == 2)
    return held


GENERATIONS = (0.3, 1.5, 8.0)  # seconds; the last is long enough for any loaded machine


def with_growing_generations(
    config_for: Callable[[float], EmulatorConfig],
    scenario: Callable[[EmulatorServer, bool], Coroutine[Any, Any, bool]],
) -> EmulatorServer:
    """The stopped server of the first generation time at which `scenario` could tell (it
    returns False when a place freed too soon); at the last it must tell (`last` True)."""
    for latency in GENERATIONS:
        with EmulatorServer(config_for(latency)) as server:
            if run(scenario(server, latency == GENERATIONS[-1])):
                return server
    raise AssertionError("the scenario could not tell even at the longest generation")


def test_a_request_past_the_cap_waits_and_is_served_when_a_place_frees() -> None:
    # Its timeout is far longer than a generation: it is served after one, never refused.
    config = EmulatorConfig(max_in_flight=2, latency=0.3, queue_timeout=60.0, cache_results=True)

    async def scenario(server: EmulatorServer) -> None:
        async with client(server) as http:
            key = await upload(http)
            held = await fill_the_cap(server, http, key)
            third = generate(http, key, "third")
            await until(lambda: server.api.places.waiting == 1)  # queued, not refused
            assert not third.done()
            answers = [await task for task in (*held, third)]
            assert [a.status_code for a in answers] == [200, 200, 200]

    with EmulatorServer(config) as server:
        run(scenario(server))
        stats = server.api.stats.to_json()
        assert stats["api_429"] == 0
        assert stats["max_in_flight"] == 2  # it waited: never three at once
        assert [entry.prompt for entry in server.api.ledger.entries][-1] == "third"
        assert (server.api.busy, server.api.places.waiting) == (0, 0)


def test_a_request_that_waits_its_whole_timeout_is_refused_with_retry_after() -> None:
    # The timeout is far shorter than a generation: no place frees in time.
    async def scenario(server: EmulatorServer, last: bool) -> bool:
        async with client(server) as http:
            key = await upload(http)
            held = await fill_the_cap(server, http, key)
            third = await generate(http, key, "third")
            if any(task.done() for task in held) and not last:
                await asyncio.gather(*held)
                return False  # a place may have freed in time: try a longer generation
            assert third.status_code == 429
            assert third.headers["Retry-After"] == "1"
            assert server.api.places.waiting == 0  # it left the queue
            assert [(await task).status_code for task in held] == [200, 200]
            return True

    # The two held must outlast the third's wait: a loaded machine may take longer than a
    # short generation for that, so the generation grows until they do.
    server = with_growing_generations(
        lambda latency: EmulatorConfig(
            max_in_flight=2, latency=latency, queue_timeout=0.05, cache_results=True
        ),
        scenario,
    )
    assert [entry.prompt for entry in server.api.ledger.entries] == ["first", "second"]
    assert server.api.stats.to_json()["api_429"] == 1
    assert server.api.busy == 0


def test_requests_waiting_for_a_place_are_served_first_come_first_served() -> None:
    order = ["a", "b", "c", "d", "e"]

    async def scenario(server: EmulatorServer) -> bool:
        async with client(server) as http:
            key = await upload(http)
            tasks = [generate(http, key, "holder")]
            await until(lambda: server.api.busy == 1)
            for waiting, prompt in enumerate(order, start=1):
                tasks.append(generate(http, key, prompt))
                # Each one has arrived (and queued) before the next is sent.
                await until(lambda n=waiting: server.api.places.waiting >= n or tasks[0].done())
            queued_behind = not tasks[0].done()
            assert [(await task).status_code for task in tasks] == [200] * 6
            return queued_behind

    # The holder must still hold the place when the fifth request queues: a loaded machine may
    # take longer than a short generation to send five, so the generation grows until it does.
    for latency in (0.1, 1.0, 5.0):
        config = EmulatorConfig(
            max_in_flight=1, latency=latency, queue_timeout=60.0, cache_results=True
        )
        with EmulatorServer(config) as server:
            queued_behind = run(scenario(server))
            prompts = [entry.prompt for entry in server.api.ledger.entries]
        if queued_behind:
            break
    assert queued_behind, "the holder finished too soon to queue behind it"
    assert prompts == ["holder", *order]


def test_a_waiting_request_its_client_abandons_frees_nothing_it_did_not_hold() -> None:
    async def scenario(server: EmulatorServer, latency: float) -> bool:
        async with client(server) as http, client(server) as leaving:
            key = await upload(http)
            holder = generate(http, key, "holder")
            await until(lambda: server.api.busy == 1)
            held_from = asyncio.get_running_loop().time()
            abandoned = generate(leaving, key, "abandoned")
            await until(lambda: server.api.places.waiting == 1 or holder.done())
            abandoned.cancel()  # the client gives up: its connection closes
            with contextlib.suppress(asyncio.CancelledError):
                await abandoned
            await leaving.aclose()
            await until(lambda: server.api.places.waiting == 0)  # it left the queue...
            if asyncio.get_running_loop().time() - held_from > latency / 2:
                await holder  # the holder may have finished by now: try a longer generation
                return False
            assert abandoned.cancelled()
            assert server.api.busy == 1  # ...and took no place with it: the holder keeps its own
            assert not holder.done()
            # The cap is still full: the next request waits behind the holder, and is next.
            late = await http.post("/api/features", json=feature_body(key, prompt="late"))
            assert late.status_code == 200
            assert (await holder).status_code == 200
            return True

    # The holder must hold its place until the abandoned request has left the queue: a loaded
    # machine may take longer than a short generation for that, so the generation grows until
    # it does (a place freed too early would hide what is checked).
    for latency in (0.5, 2.0, 8.0):
        config = EmulatorConfig(
            max_in_flight=1, latency=latency, queue_timeout=60.0, cache_results=True
        )
        with EmulatorServer(config) as server:
            held_throughout = run(scenario(server, latency))
            stats = server.api.stats.to_json()
            prompts = [entry.prompt for entry in server.api.ledger.entries]
            places = (server.api.busy, server.api.places.waiting)
        if held_throughout:
            break
    assert held_throughout, "the holder finished too soon to abandon a request behind it"
    assert stats["routes"][GENERATION].get("client disconnected") == 1
    # The abandoned request never generated (nobody would have read it), nor was charged.
    assert prompts == ["holder", "late"]
    assert stats["max_in_flight"] == 1
    assert places == (0, 0)


def test_uploads_queue_under_the_cap_and_downloads_are_never_capped() -> None:
    async def scenario(server: EmulatorServer, last: bool) -> bool:
        async with client(server) as http:
            files = {"asset": ("mug.png", studio_photo(), "image/png")}
            asset = (await http.post("/api/assets", files=files)).json()["asset"]
            location = asset["location"]
            holder = generate(http, asset["key"], "holder")
            await until(lambda: server.api.busy == 1)
            # The cap is full: a download is answered all the same...
            download = await http.get(location)
            assert download.status_code == 200 and download.content == studio_photo()
            if holder.done() and not last:
                return False  # the place freed too soon to tell: try a longer generation
            assert server.api.places.waiting == 0 and not holder.done()
            # ...while an upload, an API request as a generation is, waits for the place.
            queued = asyncio.ensure_future(http.post("/api/assets", files=files))
            await until(lambda: server.api.places.waiting == 1 or holder.done())
            if holder.done() and not last:
                await queued
                return False
            assert server.api.places.waiting == 1
            assert not queued.done()
            assert (await queued).status_code == 200  # its body, read while it waited, is whole
            assert (await holder).status_code == 200
            return True

    # The holder must hold the place through a download and an upload: a loaded machine may
    # take longer than a short generation for those, so the generation grows until it does.
    server = with_growing_generations(
        lambda latency: EmulatorConfig(
            max_in_flight=1, latency=latency, queue_timeout=60.0, cache_results=True
        ),
        scenario,
    )
    routes = server.api.stats.to_json()["routes"]
    assert routes["POST /api/assets"] == {"200": 2}
    assert routes["GET /asset"] == {"200": 1}


def test_backdrop_finishes_every_job_against_a_queueing_cap(tmp_path) -> None:
    # Queue timeouts shorter than a generation: some requests are refused after waiting, and
    # the run waits them out.
    # Four jobs, two past the cap: each refusal's Retry-After is a second of wall time, and with
    # six jobs, two would be refused twice.
    config = EmulatorConfig(max_in_flight=2, latency=0.2, queue_timeout=0.05, cache_results=True)
    plan = make_plan(tmp_path, seasons=("spring", "summer"))
    with EmulatorServer(config) as server:
        result = run_backdrop(plan, server, fast_options(max_attempts=30))
        refused = answers(server, GENERATION, "429")
        charged = len(ledger(server))
        most = server.api.stats.max_in_flight
    assert refused > 0
    assert (result.done, charged) == (4, 4)
    assert most <= 2


def test_backdrop_is_never_refused_by_a_cap_that_queues_longer_than_a_generation(tmp_path):
    config = EmulatorConfig(max_in_flight=2, latency=0.1, queue_timeout=60.0, cache_results=True)
    plan = make_plan(tmp_path)
    with EmulatorServer(config) as server:
        result = run_backdrop(plan, server, fast_options(concurrency=8))
        stats = server.api.stats.to_json()
        charged = len(ledger(server))
    assert (result.done, charged) == (6, 6)
    assert stats["api_429"] == 0
    assert stats["max_in_flight"] == 2


def test_queue_timeout_option() -> None:
    config = config_from_options(max_in_flight=60, latency="4", queue_timeout="latency")
    assert config.queue_timeout == 4.0  # "latency": as long as a generation takes
    assert config_from_options(max_in_flight=2, queue_timeout="1-3").queue_timeout == (1.0, 3.0)
    assert config_from_options(max_in_flight=2).queue_timeout is None  # refused at once
    with pytest.raises(ValueError, match="a queue timeout needs a concurrency cap"):
        config_from_options(queue_timeout="4")
    with pytest.raises(ValueError, match="queue timeout 'soon' is not a number of seconds"):
        config_from_options(max_in_flight=2, queue_timeout="soon")
    with pytest.raises(ValueError, match="queue_timeout needs max_in_flight"):
        EmulatorConfig(queue_timeout=1.0)
    with pytest.raises(ValueError, match="queue_timeout"):
        EmulatorConfig(max_in_flight=2, queue_timeout=(2.0, 1.0))
    ranged = EmulatorConfig(max_in_flight=2, queue_timeout=(1.0, 2.0), refusal_delay=(0.1, 0.2))
    assert config_from_json(config_to_json(ranged)) == ranged  # as EmulatorProcess passes it


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--queue-timeout", "4"], "a queue timeout needs a concurrency cap: add --max-in-flight"),
        (["--max-in-flight", "2", "--queue-timeout", "nan"], "queue timeout 'nan' is not a number"),
        (["--max-in-flight", "2", "--queue-timeout", "2-1"], "must be LOW-HIGH with 0 <= LOW"),
    ],
)
def test_a_bad_queue_timeout_is_a_usage_error(capsys, args, says) -> None:
    result = run_cli(capsys, "emulator", "--port", "0", *args)
    assert result.code == 2
    assert says in result.err
    assert "Traceback" not in result.err
