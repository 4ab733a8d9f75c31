"""Fuzz `validate` and `plan` with mutated recipes and CSV files, and the readers of the files
a pull request controls (backdrop.lock, .backdrop/state.db, review.yaml) with files generated
from their formats: never an internal error.

Repeatable, with a fixed number of cases: one per seed 0..4,999 (as bench/bench_fuzz.py runs
them, with timings); the cases are generated, not committed. A plain loop over the seeds rather
than Hypothesis: the cases come from a seeded generator already (tests/fuzz_support.py), and
Hypothesis's bookkeeping for 5,000 examples cost 5 s of CPU on top of the 14 s of the cases.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz_support import draw_case, make_project, run_case

EXAMPLES = 5_000


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


# About 3 ms of CPU per case: 14 s on this 2-core box, more when it is heavily loaded.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mutated_recipes_and_csv_files_never_cause_an_internal_error(recipe: Path) -> None:
    for seed in range(EXAMPLES):
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
