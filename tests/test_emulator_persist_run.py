"""The `--emulate` scenario: each run gets a new emulator, sharing a state folder like the CLI's."""

from __future__ import annotations

from pathlib import Path

from runner.emulator import EmulatorConfig, EmulatorServer
from tests.runhelp import API_KEY, fast_options, ledger, make_plan, run


def _emulator(state_dir: Path | None) -> EmulatorServer:
    return EmulatorServer(EmulatorConfig(api_key=API_KEY, state_dir=state_dir))


def test_a_deleted_image_is_downloaded_again_from_a_new_emulator(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring", "summer"))
    state_dir = plan.output_dir / ".backdrop" / "emulator"
    with _emulator(state_dir) as first:
        assert run(plan, first, fast_options()).done == 2
        charged = ledger(first)
    deleted = plan.output_dir / plan.jobs[0].outputs[0]
    original = deleted.read_bytes()
    deleted.unlink()
    damaged = plan.output_dir / plan.jobs[1].outputs[0]
    damaged.write_bytes(b"changed by hand")

    with _emulator(state_dir) as second:
        result = run(plan, second, fast_options())
        assert (result.done, result.failed) == (2, 0)
        assert ledger(second) == charged  # downloaded again, never generated again
        assert second.api.stats.by_route.get("POST /api/features") is None
    assert deleted.read_bytes() == original


def test_without_a_state_folder_a_new_emulator_cannot_serve_old_results(tmp_path: Path) -> None:
    # Why the state folder exists: the same scenario fails without it.
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring",))
    with _emulator(None) as first:
        assert run(plan, first, fast_options()).done == 1
    (plan.output_dir / plan.jobs[0].outputs[0]).unlink()
    with _emulator(None) as second:
        result = run(plan, second, fast_options(max_attempts=1))
        assert result.failed == 1
        assert not ledger(second)
