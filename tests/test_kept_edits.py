"""A retouched output is never overwritten: the fresh download takes its place, the edit is kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.clihelp import run_cli

EXAMPLE = Path(__file__).parent / "fixtures" / "example"


def test_a_retouched_image_is_kept_beside_the_fresh_download(tmp_path, capsys, monkeypatch):
    shutil.copytree(EXAMPLE, tmp_path / "campaign")
    recipe = tmp_path / "campaign" / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("size: 1536x1024", "size: 1024x1024"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "campaign" / "out" / "spring-campaign"
    # Someone's own file already where an output goes: not backdrop's to overwrite either.
    (out / "fr-FR").mkdir(parents=True)
    (out / "fr-FR" / "MUG-01-summer.webp").write_bytes(b"a designer's mock-up")
    args = (
        "run",
        "campaign/spring-campaign.yaml",
        "--emulate",
        "-y",
        "--only",
        "market.code=fr-FR",
    )
    first = run_cli(capsys, *args, "--limit", "2")
    assert first.code == 0, first.err
    assert (out / "fr-FR" / "MUG-01-summer.edited.webp").read_bytes() == b"a designer's mock-up"

    target = out / "fr-FR" / "MUG-01-spring.webp"
    retouched = target.read_bytes() + b"retouched in an editor"
    target.write_bytes(retouched)
    second = run_cli(capsys, *args, "--limit", "2")
    assert second.code == 0, second.err
    assert (out / "fr-FR" / "MUG-01-spring.edited.webp").read_bytes() == retouched
    assert target.read_bytes() != retouched  # the fresh download, as recorded
    assert (
        "kept: fr-FR/MUG-01-spring.webp had been edited; the edit is now"
        " fr-FR/MUG-01-spring.edited.webp" in second.err
    )
    assert run_cli(capsys, "verify", str(out)).out.count("stale") == 2  # the two kept files


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _write(out: Path, data: bytes, existing: object) -> None:
    import asyncio

    from runner.execute.result_files import write_verified

    async def chunks():  # type: ignore[no-untyped-def]
        yield data

    asyncio.run(
        write_verified(out, "a/x.png", chunks(), expected_format="png", expected_size=None,
                       existing=existing)  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_download_that_died_before_its_record_is_replaced_not_kept(tmp_path: Path) -> None:
    from runner.execute.result_files import ExistingFile

    data = _png()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(data)  # written by a run killed before recording it
    existing = ExistingFile(recorded=None)
    _write(tmp_path, data, existing)
    assert existing.moved_to is None
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.png"]

    (tmp_path / "a" / "x.png").write_bytes(data + b"edited")
    existing = ExistingFile(recorded=None)
    _write(tmp_path, data, existing)
    assert existing.moved_to == "a/x.edited.png"
    assert (tmp_path / "a" / "x.edited.png").read_bytes() == data + b"edited"
    assert (tmp_path / "a" / "x.png").read_bytes() == data
