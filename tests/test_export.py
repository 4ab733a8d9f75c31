"""`backdrop export`: approved picks only, names, channel sizes, zips, manifest, idempotence."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from runner.cli import main
from runner.deliver.export_cache import CACHE_PATH
from runner.deliver.export_outputs import MANIFEST_NAME
from runner.deliver.manifest_csv import ManifestRow, render_manifest
from runner.records.state import StateStore
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import save_review
from tests.clihelp import run_cli
from tests.deliverhelp import write_campaign

CHANNELS = """\
channels:
  instagram: 1080x1350
  story: { size: 1080x1920, fit: contain, background: "#000000" }
"""
OUT = "out/deliver-test"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One emulated run of 4 jobs with n: 2, shared by the tests (each exports elsewhere)."""
    folder = tmp_path_factory.mktemp("export")
    recipe = write_campaign(folder, n=2, extra=CHANNELS)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(recipe), "--emulate", "-y", "-o", str(folder / OUT)])
    assert exc.value.code == 0
    return folder


def decide(out: Path, **decisions: Decision) -> None:
    """Save these decisions, each made on the job's images as the review page makes it."""
    snapshot = StateStore.read_snapshot(out)
    images = {review_key(job.outputs): tuple(f.sha256 for f in job.files) for job in snapshot.jobs}
    named = {key.replace("__", "/").replace("_", "-"): d for key, d in decisions.items()}
    save_review(
        out,
        Review(
            {
                key: d if d.status == "pending" else replace(d, sha256=images[key])
                for key, d in named.items()
            }
        ),
    )


def manifest_rows(to: Path) -> list[dict[str, str]]:
    text = (to / MANIFEST_NAME).read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_only_approved_picks_are_delivered_at_each_channel_size(campaign, capsys):
    out = campaign / OUT
    decide(
        out,
        fr_FR__MUG_01=Decision(status="approved", pick=2),
        fr_FR__CAP_02=Decision(status="rejected", note="too dark"),
    )
    to = campaign / "delivery-1"
    result = run_cli(capsys, "export", str(out), "--to", str(to))
    assert result.code == 0, result.err
    assert "warning: 3 jobs not exported" in result.err
    assert "de-DE/MUG-01: pending" in result.err
    assert "fr-FR/CAP-02: rejected" in result.err
    assert "de-DE/CAP-02: pending" in result.err
    files = sorted(p.relative_to(to).as_posix() for p in to.rglob("*") if p.is_file())
    assert files == ["instagram/fr-FR/MUG-01.png", MANIFEST_NAME, "story/fr-FR/MUG-01.png"]
    with Image.open(to / "instagram/fr-FR/MUG-01.png") as image:
        assert image.size == (1080, 1350)
    with Image.open(to / "story/fr-FR/MUG-01.png") as image:
        assert image.size == (1080, 1920)
        assert image.convert("RGB").getpixel((540, 5)) == (0, 0, 0)  # contain pads with black
    rows = manifest_rows(to)
    assert [(r["file"], r["channel"], r["width"], r["height"]) for r in rows] == [
        ("instagram/fr-FR/MUG-01.png", "instagram", "1080", "1350"),
        ("story/fr-FR/MUG-01.png", "story", "1080", "1920"),
    ]
    source = out / "fr-FR/MUG-01-2.png"
    for row in rows:
        assert row["source_output"] == "fr-FR/MUG-01-2.png"  # the picked variant
        assert row["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert row["sha256"] == hashlib.sha256((to / row["file"]).read_bytes()).hexdigest()
        assert row["product.sku"] == "MUG-01" and row["market.code"] == "fr-FR"
        assert row["prompt"] == "MUG-01 on a table in fr-FR"
        assert row["take"] == "1" and row["variant"] == "2"

    strict = run_cli(capsys, "export", str(out), "--to", str(to), "--strict")
    assert strict.code == 2
    assert "3 job(s) are not approved" in strict.err


def test_named_jpeg_zips_per_market_and_a_second_export_rewrites_nothing(campaign, capsys):
    out = campaign / OUT
    approved = Decision(status="approved", pick=1)
    decide(
        out,
        fr_FR__MUG_01=approved,
        de_DE__MUG_01=approved,
        fr_FR__CAP_02=approved,
        de_DE__CAP_02=approved,
    )
    to = campaign / "delivery-2"
    args = ["export", str(out), "--to", str(to), "--zip", "--format", "jpeg", "--quality", "80"]
    args += ["--name", "{{ product.sku }}_{{ market.code }}_{{ channel }}", "--csv-separator", ";"]
    first = run_cli(capsys, *args)
    assert first.code == 0, first.err
    assert "warning" not in first.err
    assert sorted(p.name for p in to.iterdir()) == ["de-DE.zip", "fr-FR.zip", MANIFEST_NAME]
    with zipfile.ZipFile(to / "fr-FR.zip") as archive:
        assert archive.namelist() == [
            "CAP-02_fr-FR_instagram.jpg",
            "CAP-02_fr-FR_story.jpg",
            "MUG-01_fr-FR_instagram.jpg",
            "MUG-01_fr-FR_story.jpg",
        ]
        with Image.open(io.BytesIO(archive.read("MUG-01_fr-FR_story.jpg"))) as image:
            assert (image.format, image.size) == ("JPEG", (1080, 1920))
    text = (to / MANIFEST_NAME).read_bytes()
    assert text.startswith(b"\xef\xbb\xbffile;zip;channel;")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in to.iterdir()}

    again = run_cli(capsys, *args)
    assert again.code == 0, again.err
    assert "8 files in 2 zips to" in again.out
    assert "0 zips written, 2 unchanged" in again.out
    assert "manifest.csv (unchanged)" in again.out
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in to.iterdir()}
    assert after == before


def test_names_that_collide_or_escape_are_refused(campaign, capsys):
    out = campaign / OUT
    approved = Decision(status="approved", pick=1)
    decide(out, fr_FR__MUG_01=approved, de_DE__MUG_01=approved)
    to = campaign / "delivery-3"
    clash = run_cli(capsys, "export", str(out), "--to", str(to), "--name", "{{ product.sku }}")
    assert clash.code == 2
    assert "would both be named instagram/MUG-01.png" in clash.err
    up = run_cli(capsys, "export", str(out), "--to", str(to), "--name", "../{{ market.code }}")
    assert up.code == 2
    assert "goes up a folder" in up.err
    typo = run_cli(capsys, "export", str(out), "--to", str(to), "--name", "{{ markt.code }}")
    assert typo.code == 2
    assert "'markt' is undefined" in typo.err
    inside = run_cli(capsys, "export", str(out), "--to", str(out / "x"))
    assert inside.code == 2
    assert not to.exists() and not (out / "x").exists()


def test_manifest_neutralises_formulas():
    row = ManifestRow(
        file="a.png",
        zip="",
        channel="original",
        width=1,
        height=1,
        sha256="0",
        matrix=(("product", {"sku": '=HYPERLINK("x")'}),),
        job_key="k",
        take=1,
        variant=1,
        source_output="a.png",
        source_sha256="0",
        prompt="+cmd",
    )
    text = render_manifest([row], ";").decode("utf-8-sig")
    assert "'=HYPERLINK" in text and ";'+cmd\r\n" in text


def test_zips_group_by_any_axis_and_an_unknown_axis_is_refused(campaign, capsys):
    out = campaign / OUT
    approved = Decision(status="approved", pick=1)
    decide(out, fr_FR__MUG_01=approved, de_DE__MUG_01=approved, fr_FR__CAP_02=approved)
    to = campaign / "delivery-4"
    result = run_cli(
        capsys, "export", str(out), "--to", str(to), "--zip", "--group-by", "product.sku"
    )
    assert result.code == 0, result.err
    assert sorted(p.name for p in to.iterdir()) == ["CAP-02.zip", "MUG-01.zip", MANIFEST_NAME]
    with zipfile.ZipFile(to / "MUG-01.zip") as archive:
        assert archive.namelist() == [
            "instagram/de-DE/MUG-01.png",
            "instagram/fr-FR/MUG-01.png",
            "story/de-DE/MUG-01.png",
            "story/fr-FR/MUG-01.png",
        ]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    unknown = run_cli(capsys, "export", str(out), "--to", str(to), "--zip", "--group-by", "sesaon")
    assert unknown.code == 2
    assert "the axes are: product, market" in unknown.err


def test_an_approval_for_another_take_than_the_images_is_not_delivered(campaign, capsys):
    out = campaign / OUT
    decide(out, fr_FR__MUG_01=Decision(status="approved", pick=1, take=2))
    to = campaign / "delivery-5"
    result = run_cli(capsys, "export", str(out), "--to", str(to))
    assert result.code == 0
    assert "fr-FR/MUG-01: take 2 approved, but the folder holds take 1" in result.err
    assert [p.name for p in to.iterdir()] == [MANIFEST_NAME]


def test_a_delivered_file_changed_since_is_rendered_and_written_again(campaign, capsys):
    out = campaign / OUT
    decide(out, fr_FR__MUG_01=Decision(status="approved", pick=1))
    to = campaign / "delivery-6"
    assert run_cli(capsys, "export", str(out), "--to", str(to)).code == 0
    story = to / "story/fr-FR/MUG-01.png"
    good = story.read_bytes()
    story.write_bytes(b"retouched by hand")
    refused = run_cli(capsys, "export", str(out), "--to", str(to))
    assert refused.code == 2  # an edit by hand is not export's to replace
    assert "story/fr-FR/MUG-01.png" in refused.err and "--overwrite" in refused.err
    assert story.read_bytes() == b"retouched by hand"
    again = run_cli(capsys, "export", str(out), "--to", str(to), "--overwrite")
    assert again.code == 0, again.err
    assert "Exported 2 files to" in again.out
    assert "1 written, 1 unchanged" in again.out
    assert "manifest.csv (unchanged)" in again.out
    assert story.read_bytes() == good
    (out / CACHE_PATH).write_text("{not json")  # a damaged cache only costs time
    third = run_cli(capsys, "export", str(out), "--to", str(to))
    assert third.code == 0
    assert "0 written, 2 unchanged" in third.out


def test_the_counts_are_of_delivered_files_not_the_manifest(campaign, capsys):
    out = campaign / OUT
    decide(out, fr_FR__MUG_01=Decision(status="approved", pick=1))
    to = campaign / "delivery-7"
    result = run_cli(capsys, "export", str(out), "--to", str(to))
    assert result.code == 0, result.err
    assert "Exported 2 files to" in result.out  # one per channel
    assert ": 2 written, 0 unchanged" in result.out  # not "3 written": the manifest is apart
    assert "manifest.csv (written)" in result.out


def test_files_export_did_not_write_are_never_replaced(campaign, capsys):
    """A user's own file at a delivered name, and their own manifest.csv, stop the export."""
    out = campaign / OUT
    decide(out, fr_FR__MUG_01=Decision(status="approved", pick=1))
    to = campaign / "delivery-8"
    theirs = to / "instagram/fr-FR/MUG-01.png"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"the client's own photo")
    (to / MANIFEST_NAME).write_bytes(b"their own list\n")
    refused = run_cli(capsys, "export", str(out), "--to", str(to))
    assert refused.code == 2
    assert "2 file(s)" in refused.err
    assert "instagram/fr-FR/MUG-01.png" in refused.err and MANIFEST_NAME in refused.err
    assert "--overwrite" in refused.err
    assert theirs.read_bytes() == b"the client's own photo"
    assert (to / MANIFEST_NAME).read_bytes() == b"their own list\n"
    assert not (to / "story").exists()  # refused before anything was written

    forced = run_cli(capsys, "export", str(out), "--to", str(to), "--overwrite")
    assert forced.code == 0, forced.err
    assert theirs.read_bytes() != b"the client's own photo"
    # What export wrote is its own from then on: a changed review replaces it without --overwrite.
    decide(out, fr_FR__MUG_01=Decision(status="approved", pick=2))
    again = run_cli(capsys, "export", str(out), "--to", str(to))
    assert again.code == 0, again.err
    assert "2 written, 0 unchanged" in again.out
    assert "manifest.csv (written)" in again.out


def test_a_folder_holding_the_sources_or_the_recipe_is_refused(tmp_path, capsys):
    """`--to proj/images --name mug` once replaced the source photo images/mug.png."""
    recipe = write_campaign(tmp_path)
    out = tmp_path / "out"
    assert run_cli(capsys, "run", str(recipe), "--emulate", "-y", "-o", str(out)).code == 0
    decide(out, fr_FR__MUG_01=Decision(status="approved"))
    photo = (tmp_path / "images/mug.png").read_bytes()
    for to, what in ((tmp_path / "images", "the source image"), (tmp_path, "the recipe's folder")):
        result = run_cli(
            capsys, "export", str(out), "--to", str(to), "--name", "mug", "--overwrite"
        )
        assert result.code == 2, result.err
        assert what in result.err and "a folder of its own" in result.err
    assert (tmp_path / "images/mug.png").read_bytes() == photo
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["cap.png", "mug.png"]
