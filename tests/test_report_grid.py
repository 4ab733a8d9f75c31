"""The contact sheet's layout: which axes make rows and columns, and what shares a cell."""

from __future__ import annotations

from pathlib import Path

from runner.report.grid import layout_sheet
from tests.report_snapshots import JobSpec, build_snapshot, campaign_specs, make_sources


def test_default_skips_an_axis_that_only_picks_the_image(tmp_path: Path) -> None:
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), campaign_specs())
    sheet = layout_sheet(snapshot)
    assert sheet.row_axis is not None and sheet.column_axis is not None
    assert (sheet.row_axis.name, sheet.column_axis.name) == ("season", "market")
    assert len(sheet.groups) == 2  # one grid per source image
    mug = sheet.groups[0]
    assert all(len(jobs) == 1 for jobs in mug.cells.values())
    assert len(mug.rows) == 4  # spring, summer, the planted script season and été 🌞
    assert sheet.row_axis.labels[:2] == ("spring", "summer")
    assert "été 🌞" in sheet.row_axis.labels


def test_recipe_layout_is_honoured_and_extra_axes_share_cells(tmp_path: Path) -> None:
    snapshot = build_snapshot(
        tmp_path, make_sources(tmp_path / "src"), campaign_specs(), rows="product", columns=None
    )
    sheet = layout_sheet(snapshot)
    assert sheet.row_axis and sheet.row_axis.name == "product"
    assert sheet.column_axis and sheet.column_axis.name == "season"
    mug = sheet.groups[0]
    # fr-FR and ja-JP share a cell, except where a planted season value splits them.
    assert sorted(len(jobs) for jobs in mug.cells.values()) == [1, 1, 2, 2]


def test_one_axis_is_a_single_row(tmp_path: Path) -> None:
    specs = [JobSpec({"season": s}, f"a mug in {s}") for s in ("spring", "summer")]
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs, axes=("season",))
    sheet = layout_sheet(snapshot)
    assert sheet.row_axis is None and sheet.column_axis and sheet.column_axis.name == "season"
    assert sheet.groups[0].rows == (0,) and sheet.groups[0].columns == (0, 1)


def test_no_axes_is_a_flat_list(tmp_path: Path) -> None:
    specs = [JobSpec({"look": "studio"}, "studio shot"), JobSpec({"look": "beach"}, "beach")]
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs, axes=())
    sheet = layout_sheet(snapshot)
    assert sheet.flat and len(sheet.groups[0].jobs) == 2


def test_include_only_job_without_an_axis_value_gets_its_own_row(tmp_path: Path) -> None:
    specs = [
        JobSpec({"season": "spring", "market": "fr"}, "a"),
        JobSpec({"season": "summer", "market": "fr"}, "b"),
        JobSpec({"market": "de", "quality": "high"}, "c"),  # from `include`, no season
    ]
    snapshot = build_snapshot(
        tmp_path, make_sources(tmp_path / "src"), specs, axes=("season", "market")
    )
    sheet = layout_sheet(snapshot)
    assert sheet.row_axis and sheet.row_axis.labels == ("spring", "summer", "(not set)")
