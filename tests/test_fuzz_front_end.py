"""Fuzz `validate` and `plan` with mutated recipes and CSV files: never an internal error.

Derandomized and with a fixed number of examples, so that `make test` is repeatable; the cases
are generated, not committed. bench/bench_fuzz.py runs the same generator with timings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_support import draw_case, make_project, run_case

EXAMPLES = 5_000


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("fuzz"))


# About 3 ms of CPU per case: 28 s on this 2-core box, up to 70 s when it is heavily loaded.
@pytest.mark.slow
@pytest.mark.timeout(600)
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(seed=st.integers(0, 2**32))
def test_mutated_recipes_and_csv_files_never_cause_an_internal_error(recipe, seed):
    text, csv = draw_case(seed)
    outcome = run_case(recipe, text, csv)
    assert outcome.kind != "internal", f"{outcome.detail}\n--- recipe.yaml ---\n{text}"
