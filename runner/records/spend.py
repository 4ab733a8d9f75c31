"""What a campaign has cost so far: every generation its folders' states and locks record.

The campaign is the recipe's output folder and every folder under it that holds a state or a
backdrop.lock of the same recipe: the shard folders of `run --shard K/N -o OUT/shard-K`
(examples/github/run.yml), a trial run's `-o OUT/trial`, ... A shard folder (named shard-*) is
one part of its parent's campaign. A fresh clone has the committed locks and no `.backdrop/`:
the locks count.

Each generation counts once, by the id that identifies it (the API's record uuid; for one that
got no answer, the job and the moment it was sent), however many states and locks record it.
A job a state or a lock shows done, for which no charged generation is recorded anywhere (a lock
written before locks recorded generations, a job taken from a lock), counts once at its
request's price. Generations that got no answer (a 5xx, a dropped connection, a timeout, a run
that died) may have been charged: they count too, told apart.

A lock or a state of the campaign that cannot be read (damaged, hostile, a link out of the
project) adds nothing, and is kept with its error in `unreadable`: what it records cannot be
counted, so a budget cannot be checked against it (budget.py refuses), and `status` says so.

Estimates from the recipe's price table, as everywhere: not the bill.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.diagnostics import BackdropError, StateError
from runner.plan.plan_model import Job
from runner.recipe.model import PriceTable
from runner.records.lock_reader import read_lock
from runner.records.lockfile import LOCK_NAME, LockFile, LockFileProblem
from runner.records.run_records import GenerationRecord
from runner.records.state import StateStore
from runner.records.state_folder import SHARD_PREFIX, STATE_DIR

_MAX_DEPTH = 4  # folders below the campaign's that may hold a run (OUT/a/b/shard-1)


@dataclass(frozen=True)
class Spend:
    """A campaign's estimated cost so far (for the budget, and for `status`)."""

    spent_usd: float  # generations the API answered: charged
    generations: int
    maybe_charged: int  # generations that got no answer: maybe charged
    maybe_charged_usd: float
    unpriced: int  # generations whose quality the price table does not know: not in the sums
    folders: tuple[Path, ...]  # the folders read (a state, a lock or both)
    # (folder, why) of each lock or state of the campaign that could not be read: not counted
    unreadable: tuple[tuple[Path, BackdropError], ...] = ()

    @property
    def total_usd(self) -> float:
        """What the budget counts: the charged and the maybe charged."""
        return round(self.spent_usd + self.maybe_charged_usd, 4)


@dataclass(frozen=True)
class CampaignRecords:
    """Every generation, and every job done, paid or failed, that the campaign's folders record."""

    generations: tuple[GenerationRecord, ...]  # each once
    paid_jobs: Mapping[str, GenerationRecord | None]  # job key -> its request's size, if known
    failed: frozenset[str]
    folders: tuple[Path, ...]
    unreadable: tuple[tuple[Path, BackdropError], ...] = ()


def campaign_root(output_dir: Path) -> Path:
    """The folder whose whole tree is one campaign: a shard folder's parent, else itself."""
    output_dir = Path(output_dir)
    return output_dir.parent if output_dir.name.startswith(SHARD_PREFIX) else output_dir


def campaign_folders(output_dir: Path) -> tuple[Path, ...]:
    """The output folder (first), then every folder of its campaign holding a state or a lock."""
    output_dir = Path(output_dir)
    seen = {os.path.abspath(output_dir)}
    folders = [output_dir]
    root = campaign_root(output_dir)
    for folder in _tree(root):
        where = os.path.abspath(folder)
        if where in seen:
            continue
        # lexists: a lock that is a link or a pipe is refused when read, not taken for none
        if os.path.lexists(folder / LOCK_NAME) or (folder / STATE_DIR / "state.db").is_file():
            seen.add(where)
            folders.append(folder)
    return tuple(folders)


def read_campaign(output_dir: Path, recipe: str | None = None) -> CampaignRecords:
    """What the campaign's states and locks record. Another folder counts only when it records
    runs of `recipe` (None: any), so that a folder holding several recipes' output folders does
    not pay for them all (a folder whose records cannot say counts). A lock or another
    folder's state that cannot be read adds nothing and is listed in `unreadable`; the output
    folder's own state that cannot be read is an error (StateError), as it is for the run."""
    generations: dict[tuple[str, str], GenerationRecord] = {}
    paid: dict[str, GenerationRecord | None] = {}
    failed: set[str] = set()
    counted: list[Path] = []
    unreadable: list[tuple[Path, BackdropError]] = []
    for number, folder in enumerate(campaign_folders(output_dir)):
        errors: list[BackdropError] = []
        try:
            state = StateStore.read_spend(folder)
        except StateError as error:
            if number == 0:
                raise
            state = None
            errors.append(error)
        lock, lock_error = _lock(folder)
        errors.extend([lock_error] if lock_error is not None else [])
        recipes = (state.recipes if state is not None else frozenset()) | (
            {lock.recipe} if lock is not None else set()
        )
        if number and recipe is not None and recipes and recipe not in recipes:
            continue  # another recipe's output folder, nested in this one
        unreadable.extend((folder, error) for error in errors)
        counted.append(folder)
        if state is not None:
            _add(generations, state.generations)
            for record in state.paid_jobs:
                paid[record.job] = record
            failed |= state.failed
        if lock is not None:
            _add(generations, lock.generations)
            for entry in lock.entries:
                paid.setdefault(entry.job, None)
    return CampaignRecords(
        tuple(generations.values()), paid, frozenset(failed), tuple(counted), tuple(unreadable)
    )


def campaign_spend(
    output_dir: Path, prices: PriceTable, jobs: Iterable[Job] = (), recipe: str | None = None
) -> Spend:
    """The campaign's estimated cost so far (`recipe`: its name, see read_campaign). `jobs`:
    the plan's, to price a job a lock shows done without its generation (a lock does not say
    its quality or size)."""
    records = read_campaign(output_dir, recipe)
    planned = {job.key: job for job in jobs}
    charged: list[GenerationRecord] = [g for g in records.generations if not g.maybe]
    maybe = [g for g in records.generations if g.maybe]
    has_charge = {g.job for g in charged}
    unpriced = 0
    for key, known in sorted(records.paid_jobs.items()):
        if key in has_charge:
            continue
        if known is None and key in planned:
            po = planned[key].prompt_object
            known = GenerationRecord(f"job:{key}", key, None, po.n, po.quality, po.size)
        if known is None:
            unpriced += 1
        else:
            charged.append(known)
    spent, missing = priced(charged, prices)
    maybe_usd, missing_maybe = priced(maybe, prices)
    return Spend(
        spent_usd=spent,
        generations=len(charged) + unpriced,
        maybe_charged=len(maybe),
        maybe_charged_usd=maybe_usd,
        unpriced=unpriced + missing + missing_maybe,
        folders=records.folders,
        unreadable=records.unreadable,
    )


def lock_generations(folder: Path) -> tuple[GenerationRecord, ...]:
    """The generations the folder's own backdrop.lock records (none when it has no readable
    lock)."""
    lock, _ = _lock(folder)
    return () if lock is None else lock.generations


def priced(generations: Iterable[GenerationRecord], prices: PriceTable) -> tuple[float, int]:
    """What the generations cost at `prices`, and how many of them it cannot price."""
    total, unknown = 0.0, 0
    for generation in generations:
        try:
            total += generation.images * prices.price(generation.quality, generation.size)
        except (KeyError, ValueError):
            unknown += 1
    return round(total, 4), unknown


def _add(found: dict[tuple[str, str], GenerationRecord], more: Iterable[GenerationRecord]) -> None:
    for generation in more:
        found.setdefault((generation.id, generation.job), generation)


def _lock(folder: Path) -> tuple[LockFile | None, BackdropError | None]:
    """The folder's lock (None without one), or why it cannot be read."""
    if not os.path.lexists(folder / LOCK_NAME):
        return None, None
    try:
        return read_lock(folder), None
    except LockFileProblem as error:
        return None, error


def _tree(root: Path) -> Iterator[Path]:
    """root and the folders under it, to _MAX_DEPTH, skipping hidden ones and never following
    links (a link out of the campaign must not count another campaign's spend)."""
    if not root.is_dir():
        return
    pending = [(root, 0)]
    while pending:
        folder, depth = pending.pop()
        yield folder
        if depth >= _MAX_DEPTH:
            continue
        try:
            with os.scandir(folder) as entries:
                subfolders = [
                    Path(entry.path)
                    for entry in entries
                    if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
                ]
        except OSError:
            continue
        pending.extend((sub, depth + 1) for sub in sorted(subfolders, reverse=True))
