"""The whole loop against the emulator: run (n: 2), review, run --rejected, approve, export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from runner.deliver.export_outputs import MANIFEST_NAME
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.kept_takes import earlier_take_files, take_path
from runner.review.decisions import load_review, set_decision
from runner.review.retakes import take_key
from tests.clihelp import run_cli
from tests.deliverhelp import write_campaign

KEY = "sk-TEST-loop-4c1d9e2f"
CHANNELS = """\
channels:
  instagram: 1080x1350
  story: { size: 1080x1920, fit: contain }
"""


def decide(out: Path, key: str, **fields: object) -> None:
    """A decision made on the job's current images, as the review page makes it."""
    from dataclasses import replace

    from runner.records.state import StateStore
    from runner.review.decision_model import review_key

    jobs = StateStore.read_snapshot(out).jobs
    images = next(tuple(f.sha256 for f in j.files) for j in jobs if review_key(j.outputs) == key)
    set_decision(out, key, lambda d: replace(d, **fields, sha256=images))  # type: ignore[arg-type]


def results(out: Path) -> dict[str, dict[str, object]]:
    jobs = json.loads((out / "results.json").read_text())["jobs"]
    return {job["outputs"][0]: job for job in jobs}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.timeout(180)
def test_run_review_regenerate_the_rejected_then_export(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    recipe = write_campaign(tmp_path / "campaign", n=2, extra=CHANNELS)
    out = tmp_path / "campaign" / "out" / "deliver-test"
    with EmulatorServer(EmulatorConfig(api_key=KEY)) as server:
        api = ["--yes", "--api-url", server.base_url, "--asset-url", server.asset_base_url]
        first = run_cli(capsys, "run", str(recipe), *api)
        assert first.code == 0, first.err
        assert len(server.api.ledger.entries) == 4
        before = results(out)
        rejected_old = {p: digest(out / p) for p in ("fr-FR/CAP-02-1.png", "fr-FR/CAP-02-2.png")}
        untouched = digest(out / "fr-FR/MUG-01-2.png")

        # The review: two approved with a pick, one rejected with a note, one left pending.
        decide(out, "fr-FR/MUG-01", status="approved", pick=2)
        decide(out, "de-DE/MUG-01", status="approved", pick=1)
        decide(out, "fr-FR/CAP-02", status="rejected", note="too dark")

        # Approved jobs are never generated again, even with --force ...
        forced = run_cli(
            capsys, "run", str(recipe), *api, "--force", "--only", "product.sku=MUG-01"
        )
        assert forced.code == 0, forced.err
        assert len(server.api.ledger.entries) == 4
        assert digest(out / "fr-FR/MUG-01-2.png") == untouched

        # ... and --rejected pays for exactly the rejected job, as its take 2.
        again = run_cli(capsys, "run", str(recipe), *api, "--rejected")
        assert again.code == 0, again.err
        assert "1 job selected: 1 job to generate (2 images)" in again.out
        charges = server.api.ledger.entries
        assert len(charges) == 5
        assert charges[-1].prompt == "CAP-02 on a table in fr-FR"

    plain_key = str(before["fr-FR/CAP-02-1.png"]["key"])
    after = results(out)
    retaken = after["fr-FR/CAP-02-1.png"]
    assert (retaken["take"], retaken["key"]) == (2, take_key(plain_key, 2))
    assert retaken["key"] != plain_key
    assert after["fr-FR/MUG-01-1.png"]["key"] == before["fr-FR/MUG-01-1.png"]["key"]
    assert after["fr-FR/MUG-01-1.png"]["take"] == 1
    assert "take 2" in (out / "report.html").read_text()
    assert "<dt>Take</dt><dd>2</dd>" in (out / "report.html").read_text()
    kept_link = '<a href=".backdrop/takes/1/fr-FR/CAP-02-1.png">take 1, image 1</a>'
    assert kept_link in (out / "report.html").read_text()
    assert retaken["record_uuid"] != before["fr-FR/CAP-02-1.png"]["record_uuid"]
    for path, old in rejected_old.items():  # take 1 kept; take 2's files are the state's
        assert digest(out / take_path(path, 1)) == old
    outputs = ("fr-FR/CAP-02-1.png", "fr-FR/CAP-02-2.png")
    assert earlier_take_files(out, outputs, 1) == tuple(take_path(p, 1) for p in outputs)
    assert [f["sha256"] for f in retaken["files"]] == [  # type: ignore[union-attr]
        digest(out / "fr-FR/CAP-02-1.png"),
        digest(out / "fr-FR/CAP-02-2.png"),
    ]
    decision = load_review(out).decision("fr-FR/CAP-02")
    assert (decision.status, decision.take, decision.pick) == ("pending", 2, None)
    assert [(t.take, t.status, t.note) for t in decision.history] == [(1, "rejected", "too dark")]
    assert "take: 2" in (out / "review.yaml").read_text()

    diff = run_cli(capsys, "plan", str(recipe), "--diff", "--detailed-exitcode")
    assert diff.code == 0, diff.out  # every job, take 2 included, is up to date
    planned = run_cli(capsys, "plan", str(recipe), "--json")
    assert planned.code == 0
    assert f'"key": "{take_key(plain_key, 2)}"' in planned.out  # plan sees the takes too

    decide(out, "fr-FR/CAP-02", status="approved", pick=1)
    to = tmp_path / "delivery"
    export = ["export", str(out), "--to", str(to), "--zip"]
    export += ["--name", "{{ product.sku }}_{{ market.code }}"]
    first_export = run_cli(capsys, *export)
    assert first_export.code == 0, first_export.err
    assert "warning: 1 job not exported" in first_export.err
    assert "de-DE/CAP-02: pending" in first_export.err
    assert sorted(p.name for p in to.iterdir()) == ["de-DE.zip", "fr-FR.zip", MANIFEST_NAME]
    with zipfile.ZipFile(to / "fr-FR.zip") as archive:
        names = archive.namelist()
        assert names == [
            "instagram/CAP-02_fr-FR.png",
            "instagram/MUG-01_fr-FR.png",
            "story/CAP-02_fr-FR.png",
            "story/MUG-01_fr-FR.png",
        ]
        sizes = {n: Image.open(io.BytesIO(archive.read(n))).size for n in names}
    assert sizes["instagram/CAP-02_fr-FR.png"] == (1080, 1350)
    assert sizes["story/MUG-01_fr-FR.png"] == (1080, 1920)
    manifest = list(csv.DictReader(io.StringIO((to / MANIFEST_NAME).read_text("utf-8-sig"))))
    assert len(manifest) == 6  # three approved jobs, two channels each
    cap = next(row for row in manifest if row["file"] == "story/CAP-02_fr-FR.png")
    assert (cap["zip"], cap["take"], cap["variant"]) == ("fr-FR.zip", "2", "1")
    assert cap["source_output"] == "fr-FR/CAP-02-1.png"
    assert cap["source_sha256"] == digest(out / "fr-FR/CAP-02-1.png")
    mug = next(row for row in manifest if row["file"] == "instagram/MUG-01_fr-FR.png")
    assert (mug["source_output"], mug["market.code"]) == ("fr-FR/MUG-01-2.png", "fr-FR")

    state = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in to.iterdir()}
    second_export = run_cli(capsys, *export)
    assert second_export.code == 0
    assert "0 zips written, 2 unchanged" in second_export.out
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in to.iterdir()} == state
