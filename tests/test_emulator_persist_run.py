"""The `--emulate` scenario: each run gets a new emulator, sharing a state folder like the CLI's."""

from __future__ import annotations

from pathlib import Path

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
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


def test_a_later_emulator_goes_on_painting_new_images_of_a_request(tmp_path: Path) -> None:
    """The count of a request's generations is kept with the ledger: run 2's take is new."""
    from tests.emulator_support import VISIBLY_DIFFERENT, mean_difference

    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring",))
    state_dir = plan.output_dir / ".backdrop" / "emulator"
    output = plan.output_dir / plan.jobs[0].outputs[0]
    with _emulator(state_dir) as first:
        assert run(plan, first, fast_options()).done == 1
    take_one = output.read_bytes()
    with _emulator(state_dir) as second:
        assert run(plan, second, fast_options(force=True)).done == 1
        assert len(ledger(second)) == 2
    take_two = output.read_bytes()
    assert mean_difference(take_one, take_two) > VISIBLY_DIFFERENT
    # Without the kept ledger, a new emulator starts again from the request's first picture.
    (tmp_path / "fresh").mkdir()
    fresh = make_plan(tmp_path / "fresh", products=("MUG",), seasons=("spring",))
    with _emulator(None) as other:
        assert run(fresh, other, fast_options()).done == 1
    assert (fresh.output_dir / fresh.jobs[0].outputs[0]).read_bytes() == take_one
