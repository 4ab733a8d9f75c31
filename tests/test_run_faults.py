"""The run engine under faults: 5xx, 429 bursts, dropped connections, cut downloads, bad keys,
credits running out, interrupted downloads, and a stop in the middle of a run."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter

from runner.api.client import OneMinClient
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.backoff import Backoff
from runner.execute.run_plan import run_plan_async
from runner.records.state import StateStore
from tests.runhelp import (
    API_KEY,
    RecordingEvents,
    answers,
    fast_options,
    ledger,
    make_plan,
    run,
)


def test_every_job_finishes_despite_5xx_429_bursts_and_dropped_connections(tmp_path):
    config = EmulatorConfig(
        # Rates high enough that each fault surely happens at least once over ~20 requests.
        error_rate=0.2, burst_429=0.2, burst_seconds=0.05, drop_rate=0.15,
        retry_after=False, cache_results=True, seed=11,
    )  # fmt: skip
    plan = make_plan(tmp_path, products=("MUG", "CAP", "BAG"), seasons=("a", "b", "c", "d", "e"))
    events = RecordingEvents()
    with EmulatorServer(config) as server:
        # Backoff up to 4 bursts long: with fast_options' 0.05 s cap (one burst), retries from
        # 8 workers kept re-starting bursts, and under CPU load a job could spend all 20
        # attempts inside them (about one run in 30).
        options = fast_options(max_attempts=20, backoff=Backoff(base=0.01, cap=0.2))
        result = run(plan, server, options, events=events)
        stats = server.api.stats.to_json()
        charged = ledger(server)
    assert (result.done, result.failed, result.interrupted) == (15, 0, 0)
    assert stats["api_5xx"] > 0 and stats["api_429"] > 0 and stats["dropped"] > 0
    assert events.retries  # the watcher heard about them
    # Never charged twice: one ledger entry per job, each prompt once.
    prompts = Counter(entry["prompt"] for entry in charged)
    assert len(charged) == 15 and set(prompts.values()) == {1}
    assert all((plan.output_dir / job.outputs[0]).is_file() for job in plan.jobs)


def test_429s_with_retry_after_are_waited_out(tmp_path):
    config = EmulatorConfig(burst_429=0.3, burst_seconds=0.2, cache_results=True, seed=5)
    plan = make_plan(tmp_path)
    with EmulatorServer(config) as server:
        result = run(plan, server, fast_options(max_attempts=10))
        assert answers(server, "POST /api/features", "429") > 0
        charged = len(ledger(server))
    assert (result.done, charged) == (6, 6)


def test_429s_answered_late_by_a_concurrency_cap_are_waited_out(tmp_path):
    # The cap's 429s come only after a generation's time, as from servers that hold a request
    # before refusing it; the controller hears of each one late. On a loaded machine the sends
    # can be so spread out that a 0.1-s generation ends before a fourth one arrives and nothing
    # is refused: then the generations grow until some are.
    for attempt, latency in enumerate((0.1, 0.4, 1.6)):
        config = EmulatorConfig(
            max_in_flight=3,
            latency=latency,
            refusal_delay=latency,
            retry_after=False,
            cache_results=True,
        )
        plan = make_plan(tmp_path / str(attempt))
        with EmulatorServer(config) as server:
            result = run(plan, server, fast_options(max_attempts=20))
            refused = answers(server, "POST /api/features", "429")
            charged = len(ledger(server))
        assert (result.done, charged) == (6, 6)
        if refused:
            return
    raise AssertionError("no 429 from a cap of 3 even with 1.6-s generations")


def test_cut_downloads_are_retried_without_generating_again(tmp_path):
    config = EmulatorConfig(truncate_rate=0.5, cache_results=True, seed=2)
    plan = make_plan(tmp_path, n=2)
    with EmulatorServer(config) as server:
        result = run(plan, server, fast_options(max_attempts=15))
        truncated = server.api.stats.to_json()["truncated"]
        charged = len(ledger(server))
    assert truncated > 0
    assert (result.done, result.images, charged) == (6, 12, 6)
    assert not list(plan.output_dir.rglob("*.backdrop-part"))


def test_a_paid_but_undownloaded_generation_resumes_by_download_only(tmp_path):
    plan = make_plan(tmp_path)
    with EmulatorServer(EmulatorConfig(cache_results=True, seed=4)) as server:
        # Pay for two jobs and record the answers, as a run killed before downloading would.
        async def pay() -> None:
            async with OneMinClient(
                api_key=API_KEY, base_url=server.base_url, asset_base_url=server.asset_base_url
            ) as client:
                with StateStore.open(plan.output_dir) as state:
                    state.begin_run(plan, "killed-run")
                    for job in plan.jobs[:2]:
                        data = job.image.path.read_bytes()
                        key = await client.upload_asset(data, "x.png", "image/png")
                        answer = await client.generate(job.prompt_object.to_api(key))
                        state.record_generation(
                            job.key, answer.uuid, answer.result_keys, answer.temporary_url, None
                        )

        asyncio.run(pay())
        assert len(ledger(server)) == 2
        result = run(plan, server)
        charged = ledger(server)
    assert result.done == 6
    assert len(charged) == 6  # 2 before + the 4 never generated; the 2 paid ones not again
    assert len({entry["prompt"] for entry in charged}) == 6


def test_failed_downloads_keep_the_paid_results_for_the_next_run(tmp_path):
    plan = make_plan(tmp_path)
    with socket.socket() as closed:  # a port nobody listens on: the asset host is down
        closed.bind(("127.0.0.1", 0))
        dead_host = f"http://127.0.0.1:{closed.getsockname()[1]}/asset"
    with EmulatorServer(EmulatorConfig(cache_results=True, seed=6)) as server:
        first = asyncio.run(_run_with_asset_host(plan, server, dead_host))
        assert (first.done, first.failed) == (0, 6)
        assert "could not connect" in first.failures[0].message
        assert len(ledger(server)) == 6
        second = run(plan, server)
        assert second.done == 6
        assert len(ledger(server)) == 6  # downloaded from the recorded keys, not generated


async def _run_with_asset_host(plan, server, asset_base_url):
    async with OneMinClient(
        api_key=API_KEY, base_url=server.base_url, asset_base_url=asset_base_url
    ) as client:
        return await run_plan_async(
            plan, fast_options(max_attempts=2), client, RecordingEvents(), asyncio.Event()
        )


def test_a_refused_key_stops_the_run_with_one_message_and_keeps_done_jobs(tmp_path):
    plan = make_plan(tmp_path)
    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        run(plan, server, fast_options(selection=_limit(2)))
    events = RecordingEvents()
    with EmulatorServer(EmulatorConfig(reject_key=True)) as refusing:
        result = run(plan, refusing, fast_options(concurrency=2), events=events)
        refused = answers(refusing, "POST /api/assets", "401")
    assert result.fatal is not None and "API key was refused" in result.fatal
    assert "ONEMIN_API_KEY" in (result.fatal_hint or "")
    assert (result.skipped, result.done, result.failed, result.interrupted) == (2, 0, 0, 4)
    assert len(events.stopping) == 1
    assert refused <= 2  # no new work after the first refusal, only requests already sent
    snapshot = StateStore.read_snapshot(plan.output_dir)
    assert sorted(job.status for job in snapshot.jobs) == ["done"] * 2 + ["pending"] * 4


def test_running_out_of_credits_stops_scheduling(tmp_path):
    plan = make_plan(tmp_path)
    config = EmulatorConfig(credit_limit=3 * 1000, cache_results=True)  # three low-quality images
    events = RecordingEvents()
    with EmulatorServer(config) as server:
        result = run(plan, server, fast_options(concurrency=1), events=events)
        charged = len(ledger(server))
    assert (result.done, result.interrupted, charged) == (3, 3, 3)
    assert result.fatal is not None and "credits" in result.fatal
    assert len(events.stopping) == 1 and "credits" in events.stopping[0]
    assert result.credits_left == 0


def test_stop_mid_run_lets_requests_in_flight_finish_and_saves_them(tmp_path):
    plan = make_plan(tmp_path, products=("MUG", "CAP", "BAG"), seasons=("a", "b", "c", "d"))
    config = EmulatorConfig(latency=0.3, cache_results=True)
    with EmulatorServer(config) as server:

        async def main():
            stop = asyncio.Event()
            events = RecordingEvents()

            async def press_ctrl_c_when_three_generations_are_in_flight() -> None:
                deadline = time.monotonic() + 30
                while server.api.stats.in_flight < 3:
                    assert time.monotonic() < deadline, "three generations never were in flight"
                    await asyncio.sleep(0.005)
                stop.set()

            async with OneMinClient(
                api_key=API_KEY, base_url=server.base_url, asset_base_url=server.asset_base_url
            ) as client:
                presser = asyncio.ensure_future(press_ctrl_c_when_three_generations_are_in_flight())
                result = await run_plan_async(
                    plan, fast_options(concurrency=3), client, events, stop
                )
                await presser
            return result, events

        result, events = asyncio.run(main())
        charged = len(ledger(server))
        assert result.stopped and result.fatal is None
        assert len(events.stopping) == 1
        # The three jobs in flight when Ctrl-C came finished and were saved; nothing new began.
        assert (result.done, result.interrupted, charged) == (3, 9, 3)
        snapshot = StateStore.read_snapshot(plan.output_dir)
        done = [job for job in snapshot.jobs if job.status == "done"]
        assert len(done) == 3 and all((plan.output_dir / j.files[0].path).is_file() for j in done)

        resumed = run(plan, server)
        assert (resumed.skipped, resumed.done) == (3, 9)
        assert len(ledger(server)) == 12


def _limit(n):
    from runner.execute.selection import Selection

    return Selection(limit=n)
