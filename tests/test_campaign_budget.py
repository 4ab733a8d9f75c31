"""A recipe's `budget:` holds where runs really happen: across shard folders, in a fresh clone
(the committed locks count), and for a run that waited at "Spend it?" while another one spent.

The campaign: 40 jobs at $0.011 = $0.44. Before, with `budget: 0.30`: three `--shard K/3 -o
out/camp/shard-K` runs each said "spent so far $0.00" and spent $0.44 in all; a fresh clone
holding the locks and images spent again; and a run confirmed before another one spent went on.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.recipe.model import DEFAULT_PRICES
from runner.records.lockfile import LOCK_NAME
from runner.records.spend import campaign_spend
from runner.records.state_folder import STATE_DIR
from tests.clihelp import CliResult, backdrop_in, run_cli
from tests.runhelp import copy_campaign
from tests.tinyrun import FAST

LOW = DEFAULT_PRICES.price("low", "1024x1024")
KEY = "sk-TEST-campaign-budget-61d0"
EXAMPLE = Path(__file__).parent / "fixtures" / "example"
JOBS = 40
OUT = Path("out") / "camp"
RECIPE = """\
version: 1
name: camp
budget: {budget}
defaults: {{ size: 1024x1024, quality: low, n: 1, output_format: webp }}
matrix:
  product: [a, b, c, d]
  season: [s1, s2, s3, s4, s5, s6, s7, s8, s9, s10]
image: images/mug.png
prompt: "a {{{{ product }}}} mug in {{{{ season }}}}"
output: "{{{{ season }}}}/{{{{ product }}}}"
"""


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY, cache_results=True)) as running:
        yield running


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", tmp_path / "images" / "mug.png")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    budget(0.30)
    return tmp_path


@pytest.fixture(scope="module")
def first_shard(tmp_path_factory: pytest.TempPathFactory, server: EmulatorServer) -> Path:
    """The project with `budget: 1` after `run camp.yaml --shard 1/3 -o out/camp/shard-1`, run
    once for the module."""
    root = tmp_path_factory.mktemp("camp-shard-1")
    (root / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", root / "images" / "mug.png")
    (root / "camp.yaml").write_text(RECIPE.format(budget=1))
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    ran = backdrop_in(
        root, "run", "camp.yaml", "-y", *urls, *FAST, *shard(1), env={"ONEMIN_API_KEY": KEY}
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return root


@pytest.fixture
def shard_one_ran(project: Path, first_shard: Path) -> Path:
    """The project after its first shard's run with `budget: 1`: a copy of the module's run, as
    if made here (tests/runhelp.py copy_campaign)."""
    copy_campaign(first_shard, project)
    return project


def budget(usd: float) -> None:
    Path("camp.yaml").write_text(RECIPE.format(budget=usd))


def charged(server: EmulatorServer) -> int:
    return sum(entry.n for entry in server.api.ledger.entries)


def run(capsys: pytest.CaptureFixture[str], server: EmulatorServer, *args: str) -> CliResult:
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    return run_cli(capsys, "run", "camp.yaml", *urls, *FAST, *args)


def shard(k: int) -> tuple[str, ...]:
    return ("--shard", f"{k}/3", "-o", str(OUT / f"shard-{k}"))


def test_a_shard_run_is_checked_for_the_whole_campaign(project, capsys, server) -> None:
    before = charged(server)
    first = run(capsys, server, "-y", *shard(1))
    assert first.code == 2, first.out + first.err  # was: 0, and $0.15 spent
    assert "past its budget of $0.30" in first.err
    assert "for the other shards" in first.err
    assert "checked for all N shards together" in first.err
    assert "--limit" not in first.err  # --limit N would take N jobs in every shard
    assert charged(server) == before


def test_shard_runs_count_each_others_spend(project, capsys, server) -> None:
    before = charged(server)
    budget(0.50)
    for k in (1, 2):
        done = run(capsys, server, "-y", *shard(k))
        assert done.code == 0, done.err
    spent = charged(server) - before
    assert 0 < spent < JOBS
    # The budget lowered after two shards: the third would pass it.
    budget(0.40)
    third = run(capsys, server, "-y", *shard(3))
    assert third.code == 2, third.out + third.err  # was: "spent so far $0.00", and it ran
    assert f"Budget: $0.40; spent so far ${spent * LOW:,.2f} (estimate)" in third.out
    assert f"(${spent * LOW:,.2f} already spent" in third.err
    assert charged(server) - before == spent
    for folder in (str(OUT), str(OUT / "shard-3")):  # the base folder sees the shards' spend
        plan = run_cli(capsys, "plan", "camp.yaml", "-o", folder)
        assert f"spent so far ${spent * LOW:,.2f}" in plan.out
    budget(0.50)
    assert run(capsys, server, "-y", *shard(3)).code == 0
    assert charged(server) - before == JOBS  # each job once, whatever the folders
    # Copying the shards' images into the base folder costs nothing, and is not counted twice.
    merged = run(capsys, server, "-y")
    assert merged.code == 0 and charged(server) - before == JOBS
    spend = campaign_spend(OUT, DEFAULT_PRICES)
    assert (spend.generations, spend.spent_usd) == (JOBS, pytest.approx(JOBS * LOW))


def test_a_fresh_clone_counts_what_the_committed_locks_say_was_spent(
    project, capsys, server
) -> None:
    before = charged(server)
    budget(0.50)
    assert run(capsys, server, "-y", "--limit", "20").code == 0
    assert run(capsys, server, "-y", "--limit", "10", "--force").code == 0  # paid again
    spent = charged(server) - before
    assert spent == 30
    lock = json.loads((OUT / LOCK_NAME).read_text())
    assert len(lock["generations"]) == 30  # the forced-over ones too
    shutil.rmtree(OUT / STATE_DIR)  # what a fresh clone has: the locks and images, no state

    budget(0.40)
    plan = run_cli(capsys, "plan", "camp.yaml")
    assert f"spent so far ${spent * LOW:,.2f}" in plan.out  # was: $0.00
    clone = run(capsys, server, "-y")  # 20 jobs left: $0.33 + $0.22 > $0.40
    assert clone.code == 2, clone.out + clone.err
    assert f"(${spent * LOW:,.2f} already spent, ${20 * LOW:,.2f} for this run)" in clone.err
    assert charged(server) - before == spent

    budget(0.60)
    assert run(capsys, server, "-y").code == 0
    assert charged(server) - before == spent + 20
    # The clone's lock keeps the history it was given, and adds its own.
    lock = json.loads((OUT / LOCK_NAME).read_text())
    assert len(lock["generations"]) == spent + 20
    again = (OUT / LOCK_NAME).read_bytes()
    assert run(capsys, server, "-y").code == 0
    assert (OUT / LOCK_NAME).read_bytes() == again  # an unchanged re-run: git stays clean


def test_a_run_that_waited_at_the_prompt_is_checked_again_once_it_holds_the_folder(
    project, capsys, server, monkeypatch
) -> None:
    """B asks "Spend it?"; meanwhile A spends; B's "y" must not take the campaign over."""
    from runner.cli import main
    from runner.commands import run_steps

    before = charged(server)
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)

    def meanwhile_run_a(spend: float, limit: float) -> None:
        with pytest.raises(SystemExit) as exc:  # run A: products a and b, $0.22 of $0.30
            main(["run", "camp.yaml", "-y", *urls, *FAST, "--only", "product=a",
                  "--only", "product=b"])  # fmt: skip
        assert exc.value.code == 0
        # ... and then the user answers "y" to run B's question.

    monkeypatch.setattr(run_steps, "_confirm_spend", meanwhile_run_a)
    b = run(capsys, server, "--confirm-over", "0.01", "--only", "product=c", "--only", "product=d")
    assert charged(server) - before == 20  # A's only: was 40, B spent its $0.22 too
    assert b.code == 2, b.out + b.err
    assert "checked again once the output folder was locked" in b.err
    assert f"(${20 * LOW:,.2f} already spent, ${20 * LOW:,.2f} for this run)" in b.err


def test_the_same_generation_in_a_state_and_locks_counts_once(project, capsys, server) -> None:
    budget(1)
    assert run(capsys, server, "-y", "--limit", "5").code == 0
    shutil.copytree(OUT, Path("copy") / "camp" / "shard-9")  # the same state and lock, twice
    spend = campaign_spend(OUT, DEFAULT_PRICES)
    assert spend.generations == 5 and spend.spent_usd == pytest.approx(5 * LOW)
    assert spend.maybe_charged == 0


def test_another_recipes_folder_inside_the_output_folder_is_not_counted(
    project, capsys, server
) -> None:
    budget(1)
    assert run(capsys, server, "-y", "--limit", "5").code == 0
    other = RECIPE.format(budget=1).replace("name: camp", "name: other")
    Path("other.yaml").write_text(other)
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    nested = str(OUT / "nested-other")
    result = run_cli(capsys, "run", "other.yaml", "-y", *urls, *FAST, "--limit", "3", "-o", nested)
    assert result.code == 0, result.err
    # A trial of the same recipe nested in the folder counts; another recipe's does not.
    assert run(capsys, server, "-y", "--limit", "2", "--force", "-o", str(OUT / "trial")).code == 0
    spend = campaign_spend(OUT, DEFAULT_PRICES, recipe="camp")
    assert spend.generations == 5 + 2


def damage_generation(folder: Path) -> None:
    """A generation of 10^22 images in folder's lock: a mistake at its line (issue 17)."""
    lock = folder / LOCK_NAME
    text = lock.read_text()
    assert '"n": 1, "quality"' in text
    lock.write_text(text.replace('"n": 1, "quality"', '"n": 10000000000000000000000, "quality"', 1))


@pytest.mark.parametrize("record", ["lock", "state"])
def test_a_campaign_record_that_cannot_be_read_stops_a_run_with_a_budget(
    shard_one_ran, capsys, server, record
) -> None:
    """What a damaged shard lock or state records cannot be counted: the budget is refused
    with that file's own error, not checked without it (and never exit 70)."""
    before = charged(server)
    sibling = OUT / "shard-1"
    if record == "lock":
        damage_generation(sibling)
    else:
        import sqlite3

        conn = sqlite3.connect(sibling / STATE_DIR / "state.db")
        conn.execute("UPDATE generations SET prompt_object = 'not json'")
        conn.commit()
        conn.close()
    for args in (("plan", "camp.yaml"), ("plan", "camp.yaml", "-o", str(OUT / "shard-2"))):
        planned = run_cli(capsys, *args)
        said = planned.out + planned.err
        assert planned.code == (2 if record == "lock" else 3), said
        assert "internal error" not in said
        assert f"{sibling}" in said and "the budget counts what every folder" in said
    ran = run(capsys, server, "-y", *shard(2))
    assert ran.code == (2 if record == "lock" else 3), ran.out + ran.err
    if record == "lock":
        assert f"{sibling}/backdrop.lock:23:166: error: generation 1:" in ran.err  # at its place
        assert "hint: the budget counts what every folder of this campaign records, so" in ran.err
        assert '"n" must be the number of images asked for, 1 to 10' in ran.err
    else:
        assert "the state is damaged: generations.prompt_object" in ran.err
    assert charged(server) == before  # nothing was sent
    budget_free = RECIPE.format(budget=1).replace("budget: 1\n", "")
    Path("camp.yaml").write_text(budget_free)  # without a budget, nothing needs counting
    assert run(capsys, server, "-y", *shard(2)).code == 0


def test_status_says_what_the_spend_leaves_out(shard_one_ran, capsys, server) -> None:
    damage_generation(OUT / "shard-1")
    for target in ("camp.yaml", str(OUT)):
        status = run_cli(capsys, "status", target)
        assert status.code == 0, status.err
        assert f"the spend leaves out what {OUT / 'shard-1'} records" in status.out


def test_status_of_a_shard_folder_not_made_yet_beside_a_damaged_sibling_lock(
    shard_one_ran, capsys, server
) -> None:
    (OUT / "shard-1" / LOCK_NAME).write_text("{ not json")
    status = run_cli(capsys, "status", "camp.yaml", "-o", str(OUT / "shard-2"))
    assert status.code == 0, status.err  # was exit 70 (samefile of a folder not made yet)
    assert f"the spend leaves out what {OUT / 'shard-1'} records" in status.out
