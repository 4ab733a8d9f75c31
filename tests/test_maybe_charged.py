"""Every generation attempt that got no answer is on record as maybe charged: told in the run's
summary, counted by the budget and by campaign_spend (what `status` shows).

Before: with the answer dropped after the charge on 30% of requests, the emulator's ledger
showed 52 charges for 40 jobs, the state recorded 40, the budget said "spent $0.44" while $0.57
was charged, and nothing said "may have been charged" (a retry replaced the record of the
attempt it retried).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.cli import main
from runner.emulator.app import create_app
from runner.emulator.config import EmulatorConfig
from runner.emulator.faults import DroppedConnection
from runner.emulator.server import EmulatorServer
from runner.execute.run_plan import run_plan
from runner.recipe.model import DEFAULT_PRICES
from runner.records.spend import campaign_spend
from tests.clihelp import run_cli
from tests.emulator_support import feature_body, upload
from tests.runhelp import API_KEY, fast_options, make_plan
from tests.tinyrun import FAST

LOW = DEFAULT_PRICES.price("low", "1024x1024")
KEY = "sk-TEST-maybe-charged-3e9b"
EXAMPLE = Path(__file__).parent / "fixtures" / "example"
JOBS = 40
RECIPE = """\
version: 1
name: dropped
{budget}defaults: {{ size: 1024x1024, quality: low, n: 1, output_format: webp }}
matrix:
  product: [a, b, c, d]
  season: [s1, s2, s3, s4, s5, s6, s7, s8, s9, s10]
image: images/mug.png
prompt: "a {{{{ product }}}} mug in {{{{ season }}}}"
output: "{{{{ season }}}}/{{{{ product }}}}"
"""


def test_the_emulator_can_drop_an_answer_after_charging() -> None:
    async def scenario() -> tuple[type[BaseException], list[Any]]:
        app = create_app(EmulatorConfig(charge_then_drop_rate=1.0))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://emulator", headers={"API-KEY": "k"}
        ) as client:
            key = await upload(client)
            with pytest.raises(DroppedConnection) as dropped:
                await client.post("/api/features", json=feature_body(key))
            entries = (await client.get("/_emulator/ledger")).json()
        return type(dropped.value), entries

    kind, entries = asyncio.run(scenario())
    assert kind is DroppedConnection
    assert len(entries) == 1 and entries[0]["failed_after_charge"] is True


@dataclass(frozen=True)
class DroppedRun:
    root: Path
    server: EmulatorServer
    urls: tuple[str, ...]
    code: int
    err: str


@pytest.fixture(scope="module")
def dropped_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DroppedRun]:
    """40 jobs through the CLI, 30% of the answers dropped after the charge."""
    root = tmp_path_factory.mktemp("dropped")
    (root / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", root / "images" / "mug.png")
    (root / "dropped.yaml").write_text(RECIPE.format(budget="budget: 5\n"))
    config = EmulatorConfig(api_key=KEY, cache_results=True, charge_then_drop_rate=0.3, seed=11)
    with EmulatorServer(config) as server, pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("ONEMIN_API_KEY", KEY)
        patch.setenv("GITHUB_STEP_SUMMARY", str(root / "summary.md"))
        urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
        err = io.StringIO()
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exc,
        ):
            main(["run", "dropped.yaml", "-y", "--max-attempts", "20", *urls, *FAST])
        code = exc.value.code if isinstance(exc.value.code, int) else 1
        yield DroppedRun(root, server, urls, code, err.getvalue())


@pytest.fixture
def campaign(dropped_run: DroppedRun, monkeypatch: pytest.MonkeyPatch) -> DroppedRun:
    monkeypatch.chdir(dropped_run.root)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    return dropped_run


def test_dropped_answers_are_counted_as_maybe_charged_in_summary_and_spend(
    campaign, capsys
) -> None:
    assert campaign.code == 0, campaign.err
    charged = len(campaign.server.api.ledger.entries)
    dropped = charged - JOBS
    assert dropped > 5  # the fault did happen, several times
    # was: no warning at all
    assert f"warning: {dropped} generations sent by this run got no answer" in campaign.err
    assert f"may have charged for them (${dropped * LOW:,.2f} estimated)" in campaign.err
    assert f", {dropped} maybe charged" in (campaign.root / "summary.md").read_text()  # CI too

    spend = campaign_spend(campaign.root / "out" / "dropped", DEFAULT_PRICES)
    assert spend.generations == JOBS
    assert spend.maybe_charged == dropped  # was: 0
    assert spend.spent_usd == pytest.approx(JOBS * LOW)
    assert spend.maybe_charged_usd == pytest.approx(dropped * LOW)
    assert spend.total_usd == pytest.approx(charged * LOW)  # what the ledger charged

    plan = run_cli(capsys, "plan", "dropped.yaml")
    said = f"spent so far ${JOBS * LOW:,.2f} + ${dropped * LOW:,.2f} maybe charged (estimate)"
    assert said in plan.out


def test_a_budget_counts_the_maybe_charged(campaign, capsys) -> None:
    spend = campaign_spend(campaign.root / "out" / "dropped", DEFAULT_PRICES)
    assert spend.maybe_charged > 0
    # A budget the charged generations alone would leave room in, the maybe charged do not.
    budget = spend.spent_usd + LOW * 1.5
    (campaign.root / "dropped.yaml").write_text(
        RECIPE.format(budget=f"budget: {budget:.4f}\n").replace("s10]", "s10, s11]")
    )
    before = len(campaign.server.api.ledger.entries)
    refused = run_cli(capsys, "run", "dropped.yaml", "-y", *campaign.urls, *FAST)
    assert refused.code == 2, refused.err
    assert f"and ${spend.maybe_charged_usd:,.2f} maybe charged" in refused.err
    assert len(campaign.server.api.ledger.entries) == before


Handler = Callable[[httpx.Request], httpx.Response]


def one_fault(fault: Callable[[], httpx.Response]) -> tuple[Handler, list[int]]:
    """An API whose first generation meets `fault`; everything else answers."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), (1, 2, 3)).save(buffer, "PNG")
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/assets":
            return httpx.Response(200, json={"fileContent": {"path": "images/src.png"}})
        if request.url.path == "/api/features":
            calls.append(1)
            if len(calls) == 1:
                return fault()
            detail = {"resultObject": [f"images/r{len(calls)}.png"]}
            record = {"uuid": f"rec-{len(calls)}", "status": "SUCCESS", "aiRecordDetail": detail}
            return httpx.Response(200, json={"aiRecord": record})
        return httpx.Response(200, content=buffer.getvalue())

    return handler, calls


def raises(exc: Exception) -> Callable[[], httpx.Response]:
    def fault() -> httpx.Response:
        raise exc

    return fault


@pytest.mark.parametrize(
    ("fault", "maybe"),
    [
        (raises(httpx.ConnectError("connection refused")), 0),  # never reached the API
        (raises(httpx.PoolTimeout("no free connection")), 0),
        (raises(httpx.WriteError("broken pipe while sending")), 0),  # never sent whole
        (raises(httpx.ReadTimeout("no answer in time")), 1),
        (raises(httpx.RemoteProtocolError("peer closed connection")), 1),
        (lambda: httpx.Response(504, text="<html>Gateway Time-out</html>"), 1),
        (lambda: httpx.Response(500, json={"message": "Internal Server Error"}), 1),
        (lambda: httpx.Response(429, json={"message": "slow down"}), 0),  # a refusal
        (lambda: httpx.Response(400, json={"message": "prompt too long"}), 0),
    ],
    ids=["connect", "pool", "write", "read-timeout", "dropped", "504", "500", "429", "400"],
)
def test_which_failures_may_have_been_charged(tmp_path, fault, maybe) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring",))
    handler, _ = one_fault(fault)
    result = run_plan(
        plan,
        fast_options(concurrency=1),
        api_key=API_KEY,
        base_url="https://api.test",
        asset_base_url="https://asset.test",
        transport=httpx.MockTransport(handler),
        handle_sigint=False,
    )
    assert len(result.maybe_charged) == maybe
    spend = campaign_spend(plan.output_dir, plan.prices)
    assert spend.maybe_charged == maybe
    assert spend.generations == (1 if result.done else 0)


def test_an_answer_that_makes_no_sense_is_maybe_charged_and_fails_its_job(tmp_path) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring",))
    handler, _ = one_fault(lambda: httpx.Response(200, text="<html>maintenance</html>"))
    result = run_plan(
        plan,
        fast_options(concurrency=1),
        api_key=API_KEY,
        base_url="https://api.test",
        asset_base_url="https://asset.test",
        transport=httpx.MockTransport(handler),
        handle_sigint=False,
    )
    assert result.failed == 1 and len(result.maybe_charged) == 1
    assert campaign_spend(plan.output_dir, plan.prices).maybe_charged == 1
