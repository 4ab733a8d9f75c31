"""Fuzz `validate` and `plan` (never an internal error, never past the time and memory bounds),
and the readers of the files a pull request controls (backdrop.lock, .backdrop/state.db,
review.yaml) with files generated from their formats: never an internal error.

Two generators. Mutated recipes and CSV files: one case per seed 0..4,999 (as bench/bench_fuzz.py
runs them, with timings), in-process. Recipes drawn from the recipe schema with adversarial
values and sizes (tests/schema_fuzz.py), each through the CLI in a forked child. The cases are
generated, not committed. A plain loop over the seeds rather than Hypothesis: the cases come
from seeded generators already, and Hypothesis's bookkeeping for 5,000 examples cost 5 s of CPU
on top of the 14 s of the cases.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fuzz_support import draw_case, make_project, run_case

if TYPE_CHECKING:
    from tests.schema_fuzz import ForkServer

EXAMPLES = 5_000
# The seeds in ten slices of 500, each its own test: under `--dist worksteal` idle workers take
# slices, where one 5,000-case test ran alone for the suite's last 15 to 40 s.
SLICES = 10


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Each case writes two files: in memory (tmpfs) when the machine has one, that costs a
    # third of writing them to disk, 2 s of the test's 13.
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="backdrop-fuzz-", dir=shm))
        try:
            yield make_project(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        yield make_project(tmp_path_factory.mktemp("fuzz"))


# About 2 ms of CPU per case, nearly all of it in the loader, the schema check and Jinja: 10.6 s
# for the 5,000 in one `make unit` on this 2-core box, about 1 s a slice.
@pytest.mark.slow
@pytest.mark.parametrize("first", range(0, EXAMPLES, EXAMPLES // SLICES))
def test_mutated_recipes_and_csv_files_never_cause_an_internal_error(
    recipe: Path, first: int
) -> None:
    for seed in range(first, first + EXAMPLES // SLICES):
        text, csv = draw_case(seed)
        outcome = run_case(recipe, text, csv)
        assert outcome.kind != "internal", (
            f"seed {seed}: {outcome.detail}\n--- recipe.yaml ---\n{text}"
        )


# Files a pull request controls, generated from their formats (tests/fuzz_files.py): a few
# hundred cases here, any number in bench/bench_fuzz.py --family. Each case costs 5 to 40 ms.
FILE_CASES = {"locks": 150, "reviews": 150, "states": 100}


@pytest.mark.slow
@pytest.mark.timeout(300)  # a pipe opened for reading would block forever
@pytest.mark.parametrize("family", FILE_CASES)
def test_hostile_locks_states_and_review_files_never_cause_an_internal_error(
    tmp_path: Path, family: str
) -> None:
    from tests.fuzz_files import Bench

    bench = Bench(family, tmp_path)
    for seed in range(FILE_CASES[family]):
        outcome = bench.run(seed)
        assert outcome.kind != "internal", f"{family} seed {seed}: {outcome.detail}"


# Recipes drawn from the schema (tests/schema_fuzz.py), each run through the real CLI in a child
# limited to 1 GiB and 30 s of CPU (three times the 10 s a case may take, for loaded machines): a
# case over either, or ending in anything but exit 0 or 2, fails. The children fork from a small
# process that has loaded the CLI (schema_fuzz.ForkServer), not from the worker: about 30 ms a
# small case; bench/bench_fuzz.py --schema runs them at scale.
SCHEMA_CASES = 300
SCALED_CASES = 24  # at a twentieth of the LARGE knobs: thousands of jobs, vars and entries
# Six slices of 50 small cases and two of 12 scaled ones, each its own test, for workers to
# share under `--dist worksteal` (one test of all 324 ran alone at the suite's end, 77 s loaded).
SCHEMA_SLICES = [("small", first, first + 50) for first in range(0, SCHEMA_CASES, 50)]
SCHEMA_SLICES += [("scaled", first, first + 12) for first in range(0, SCALED_CASES, 12)]


@pytest.fixture(scope="session")
def fork_server() -> Iterator[ForkServer]:
    # One per worker, for the slices it takes: the cases fork from it, not from the worker.
    from tests.schema_fuzz import ForkServer

    with ForkServer() as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the cases run in forked children")
@pytest.mark.parametrize(("knobs", "first", "end"), SCHEMA_SLICES)
def test_recipes_drawn_from_the_schema_end_in_exit_0_or_2_within_limits(
    fork_server: ForkServer, knobs: str, first: int, end: int
) -> None:
    from tests.schema_fuzz import LARGE, SMALL, draw_schema_case, remove_tree, scaled

    folder = Path(tempfile.mkdtemp(prefix="backdrop-schema-", dir=_scratch())) / "case"
    try:
        size = SMALL if knobs == "small" else scaled(LARGE, 0.05)
        drawn = [draw_schema_case(seed, size) for seed in range(first, end)]
        failures = []
        for case in drawn:
            result = fork_server.run(case, folder, memory_bytes=1 << 30, cpu_seconds=30)
            if not result.ok:
                failures.append(f"seed {case.seed}: {result.detail}\n{case.recipe[:3000]}")
        assert not failures, "\n\n".join(failures[:3])
    finally:
        remove_tree(folder.parent)


def _scratch() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.mark.parametrize("setting", ["a café", "南部鉄器の急須", "☃a b a b ☃" * 40])
def test_a_drawn_workbook_holds_what_openpyxl_writes_for_its_rows(setting: str) -> None:
    # The drawing writes the rows of a plain axis workbook itself (openpyxl took most of its
    # CPU): every part of the file must be what openpyxl's write-only mode saves.
    import io
    import zipfile

    from openpyxl import Workbook

    from tests.schema_fuzz import _header_only_workbook, _plain_text, _with_text_rows

    def saved(rows: int) -> bytes:
        book = Workbook(write_only=True)
        sheet = book.create_sheet("Données é")
        sheet.append(["code", "setting"])
        for index in range(rows):
            sheet.append([f"c{index}", f"{setting} {index}"])
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    def parts(data: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            # (docProps/core.xml holds the time it was saved)
            return {name: book.read(name) for name in book.namelist() if "core" not in name}

    assert _plain_text(setting)
    assert parts(_with_text_rows(saved(0), setting, 30)) == parts(saved(30))
    # (the drawing saves the header-only workbook once per sheet name)
    header_only = _header_only_workbook("Données é")
    assert parts(_with_text_rows(header_only, setting, 30)) == parts(saved(30))
