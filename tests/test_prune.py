"""`run --prune` deletes only images backdrop wrote for jobs gone from the recipe, nothing else."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from runner.execute.prune import PruneCandidates, prune_outputs
from runner.records.run_records import FileRecord
from runner.records.state import StateStore
from tests.clihelp import run_cli
from tests.statehelp import make_plan

EXAMPLE = Path(__file__).parent / "fixtures" / "example"


def small_campaign(folder: Path) -> Path:
    """The example recipe at its smallest size, so that the emulator composites quickly."""
    shutil.copytree(EXAMPLE, folder)
    recipe = folder / "spring-campaign.yaml"
    text = recipe.read_text().replace("size: 1536x1024", "size: 1024x1024")
    recipe.write_text(text.replace("quality: high", "quality: low"))
    return recipe


def snapshot_of_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".backdrop" not in p.parts
    }


def test_prune_into_the_recipe_folder_keeps_its_sources(tmp_path, capsys, monkeypatch):
    # The report: `backdrop run spring-campaign.yaml -o . --prune --yes --limit 1` deleted the
    # recipe's own images/mug.png and images/tote.png.
    campaign = tmp_path / "campaign"
    small_campaign(campaign)
    (campaign / "holiday.jpg").write_bytes(b"\xff\xd8 a photo of the team \xff\xd9")
    before = snapshot_of_files(campaign)
    monkeypatch.chdir(campaign)
    args = ("run", "spring-campaign.yaml", "-o", ".", "--prune", "--yes", "--limit", "1")
    result = run_cli(capsys, *args, "--emulate")
    assert result.code == 0, result.err
    after = snapshot_of_files(campaign)
    for name, data in before.items():
        assert after.get(name) == data, f"{name} was changed or deleted"
    assert "prune: no stale images written by backdrop" in result.err


def test_prune_with_output_dir_up_one_folder_keeps_the_photos_beside_the_recipe(
    tmp_path, capsys, monkeypatch
):
    # The report: with `output_dir: ".."` it deleted five photos beside the recipe.
    campaign = tmp_path / "shoot" / "campaign"
    recipe = small_campaign(campaign)
    recipe.write_text(recipe.read_text() + 'output_dir: ".."\n')
    for i in range(5):
        shutil.copy(EXAMPLE / "images" / "mug.png", campaign / f"photo-{i}.png")
    before = snapshot_of_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ("run", "shoot/campaign/spring-campaign.yaml", "--prune", "--yes", "--limit", "1")
    result = run_cli(capsys, *args, "--emulate")
    assert result.code == 0, result.err
    after = snapshot_of_files(tmp_path)
    for name, data in before.items():
        assert after.get(name) == data, f"{name} was changed or deleted"


def test_prune_deletes_what_backdrop_wrote_for_a_market_dropped_from_the_recipe(
    tmp_path, capsys, monkeypatch
):
    campaign = tmp_path / "campaign"
    small_campaign(campaign)
    monkeypatch.chdir(tmp_path)
    recipe = "campaign/spring-campaign.yaml"
    out = campaign / "out" / "spring-campaign"
    first = run_cli(capsys, "run", recipe, "--emulate", "-y", "--only", "market.code=ja-JP")
    assert first.code == 0, first.err
    written = sorted(p.name for p in (out / "ja-JP").iterdir())
    assert len(written) == 6
    # A copy the user made and an image retouched since: neither is backdrop's to delete.
    shutil.copy(out / "ja-JP" / "TOTE-02-summer.webp", out / "my-favourite.webp")
    with (out / "ja-JP" / "MUG-01-spring.webp").open("ab") as retouched:
        retouched.write(b"retouched")

    csv = campaign / "data" / "markets.csv"
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(line for line in lines if not line.startswith("ja-JP")))
    # The recipe's `exclude` names ja-JP too: an exclude that matches nothing is an error.
    recipe_file = campaign / "spring-campaign.yaml"
    text = recipe_file.read_text("utf-8")
    recipe_file.write_text(text.replace("market: { code: ja-JP }", "market: { code: de-DE }"))
    second = run_cli(capsys, "run", recipe, "--emulate", "-y", "--limit", "1", "--prune")
    assert second.code == 0, second.err
    assert sorted(p.name for p in (out / "ja-JP").iterdir()) == ["MUG-01-spring.webp"]
    assert (out / "my-favourite.webp").is_file()
    assert "prune: deleted 5 stale images" in second.err
    assert "kept 1 stale image changed since backdrop wrote it" in second.err
    assert "  ja-JP/MUG-01-spring.webp" in second.err

    # Once the retouched file is gone too, the folder it leaves empty goes as well.
    (out / "ja-JP" / "MUG-01-spring.webp").unlink()
    shutil.copy(out / "my-favourite.webp", out / "ja-JP" / "TOTE-02-summer.webp")
    third = run_cli(capsys, "run", recipe, "--emulate", "-y", "--limit", "1", "--prune")
    assert third.code == 0, third.err
    assert "prune: no stale images written by backdrop" in third.err  # already forgotten
    assert (out / "ja-JP" / "TOTE-02-summer.webp").is_file()


def _record(store: StateStore, key: str, path: Path, relative: str) -> None:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    store.record_file(key, 0, FileRecord(relative, digest, 1, 1, len(data)))


def test_pruning_removes_emptied_folders_and_never_follows_links(tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = make_plan(out, 3)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.png").write_bytes(b"not in the output folder")
    with StateStore.open(out) as store:
        store.begin_run(plan, "run-1")
        for name, key in (("old/deep/a.png", plan.jobs[0].key), ("old/b.png", plan.jobs[1].key)):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(name.encode())
            _record(store, key, out / name, name)
        (out / "linked").symlink_to(outside)
        _record(store, plan.jobs[2].key, outside / "keep.png", "linked/keep.png")
        # The next run's plan no longer produces any of these.
        store.begin_run(make_plan(out, 1, prompt="another"), "run-2")

    seen: list[PruneCandidates] = []
    result = prune_outputs(out, lambda c: seen.append(c) or True)
    assert seen[0].stale == ("old/b.png", "old/deep/a.png")
    assert result.deleted == ("old/b.png", "old/deep/a.png")
    assert result.folders_removed == 2
    assert not (out / "old").exists()
    assert (outside / "keep.png").read_bytes() == b"not in the output folder"
    assert out.is_dir()


def test_saying_no_deletes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = make_plan(out, 1)
    with StateStore.open(out) as store:
        store.begin_run(plan, "run-1")
        (out / "gone.png").write_bytes(b"x")
        _record(store, plan.jobs[0].key, out / "gone.png", "gone.png")
        store.begin_run(make_plan(out, 1, prompt="other"), "run-2")
    result = prune_outputs(out, lambda c: False)
    assert result.candidates.stale == ("gone.png",)
    assert result.deleted == ()
    assert (out / "gone.png").exists()


def test_another_recipe_sharing_the_folder_keeps_its_images(tmp_path, capsys, monkeypatch):
    campaign = tmp_path / "campaign"
    recipe = small_campaign(campaign)
    other = campaign / "autumn.yaml"
    other.write_text(
        recipe.read_text()
        .replace("name: spring-campaign", "name: autumn-campaign")
        .replace('output: "{{ market.code }}/', 'output: "autumn/{{ market.code }}/')
        .replace("soft natural light", "warm autumn light")
    )
    monkeypatch.chdir(campaign)
    common = ("--emulate", "-y", "-o", "shared", "--limit", "2")
    assert run_cli(capsys, "run", "autumn.yaml", *common).code == 0
    autumn = sorted(
        p.relative_to(campaign) for p in (campaign / "shared" / "autumn").rglob("*.webp")
    )
    assert len(autumn) == 2
    result = run_cli(capsys, "run", "spring-campaign.yaml", *common, "--prune")
    assert result.code == 0, result.err
    assert all(path.is_file() for path in autumn)
    assert "prune: no stale images written by backdrop" in result.err


def test_an_absolute_output_dir_in_a_recipe_is_refused_but_minus_o_may_be(
    tmp_path, capsys, monkeypatch
):
    recipe = small_campaign(tmp_path / "campaign")
    text = recipe.read_text()
    recipe.write_text(text + f"output_dir: {tmp_path / 'elsewhere'}\n")
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "plan", "campaign/spring-campaign.yaml")
    assert result.code == 2
    assert "campaign/spring-campaign.yaml:28:13" in result.err, result.err
    assert f"output_dir: the folder '{tmp_path / 'elsewhere'}' is absolute" in result.err
    recipe.write_text(text)
    absolute = run_cli(capsys, "plan", "campaign/spring-campaign.yaml", "-o", str(tmp_path / "o"))
    assert absolute.code == 0, absolute.err


def test_an_output_that_would_overwrite_a_source_image_is_refused(tmp_path, capsys, monkeypatch):
    recipe = small_campaign(tmp_path / "campaign")
    recipe.write_text(recipe.read_text().replace('output: "{{ market.code }}/', 'output: "'))
    recipe.write_text(
        recipe.read_text()
        .replace("output_format: webp", "output_format: png")
        .replace(
            'output: "{{ product.sku }}-{{ season }}"', 'output: "images/{{ product.image[7:-4] }}"'
        )
    )
    monkeypatch.chdir(tmp_path / "campaign")
    before = (EXAMPLE / "images" / "mug.png").read_bytes()
    result = run_cli(capsys, "run", "spring-campaign.yaml", "-o", ".", "--emulate", "-y")
    assert result.code == 2
    assert "the output images/mug.png would overwrite the source file images/mug.png" in result.err
    assert (tmp_path / "campaign" / "images" / "mug.png").read_bytes() == before
