"""The emulator's shared render cache: a cached image is exactly the one rendering would give."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from runner.emulator import compositor
from runner.emulator.config import EmulatorConfig
from runner.emulator.render_cache import ENV_VAR, RenderCache
from runner.emulator.store import AssetStore, ResultSpec

from .emulator_support import studio_photo


def spec(source: str, prompt: str = "on a beach", **changes: object) -> ResultSpec:
    values: dict = {"size": "1024x1024", "output_format": "webp", "compression": 85}
    values.update(changes)
    return ResultSpec(source, prompt, variant=0, cached=False, **values)


def store_with_upload(folder: Path | None, photo: bytes) -> tuple[AssetStore, str]:
    store = AssetStore(b"secret", None if folder is None else RenderCache(folder))
    return store, store.add_upload("mug.png", photo, "image/png", "png")


def no_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("rendered instead of read from the cache")

    monkeypatch.setattr(compositor, "replace_background", refuse)


def test_another_emulator_serves_the_same_bytes_without_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = studio_photo()
    first, key = store_with_upload(tmp_path / "cache", photo)
    rendered = first.render(spec(key))
    uncached, plain_key = store_with_upload(None, photo)
    assert uncached.render(spec(plain_key)) == rendered  # what the cache holds is the render

    no_rendering(monkeypatch)
    # Another emulator: its upload of the same photo has another key, its render is read.
    second, other_key = store_with_upload(tmp_path / "cache", photo)
    assert other_key != key
    assert second.render(spec(other_key)) == rendered
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.isalnum()]  # no parts


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "in the snow"},
        {"size": "1536x1024"},
        {"output_format": "png"},
        {"compression": 40},
        {"variant": 1},
    ],
)
def test_any_other_input_is_rendered_anew(tmp_path: Path, change: dict) -> None:
    photo = studio_photo()
    first, key = store_with_upload(tmp_path, photo)
    second, other_key = store_with_upload(tmp_path, photo)
    prompt = change.pop("prompt", "on a beach")
    variant = change.pop("variant", 0)
    changed = ResultSpec(
        other_key,
        prompt,
        size=change.get("size", "1024x1024"),
        output_format=change.get("output_format", "webp"),
        compression=change.get("compression", 85),
        variant=variant,
        cached=False,
    )
    assert first.render(spec(key)) != second.render(changed)
    assert len(list(tmp_path.iterdir())) == 2


def test_another_photo_is_rendered_anew(tmp_path: Path) -> None:
    first, key = store_with_upload(tmp_path, studio_photo())
    second, other_key = store_with_upload(tmp_path, studio_photo(subject=(200, 30, 30)))
    assert first.render(spec(key)) != second.render(spec(other_key))


def test_a_cache_folder_that_cannot_be_written_only_means_rendering(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    store, key = store_with_upload(blocked, studio_photo())
    assert store.render(spec(key)).startswith(b"RIFF")  # a WebP, rendered
    assert blocked.read_text() == "a file where the cache folder should be"


def test_the_folder_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "/tmp/renders")
    assert EmulatorConfig().render_cache == Path("/tmp/renders")
    monkeypatch.setenv(ENV_VAR, "")
    assert EmulatorConfig().render_cache is None


def test_cache_results_placeholders_are_shared_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, key = store_with_upload(tmp_path, studio_photo())
    placeholder = ResultSpec(key, "any", "1024x1024", "png", 100, 0, cached=True)
    rendered = first.render(placeholder)
    no_rendering(monkeypatch)
    second, other_key = store_with_upload(tmp_path, studio_photo())
    assert (
        second.render(ResultSpec(other_key, "other", "1024x1024", "png", 100, 0, True)) == rendered
    )


@pytest.mark.parametrize(
    ("cached", "shared"),
    [(False, False), (True, True)],
    ids=["a result, no render cache", "the cache_results placeholder, a render cache"],
)
def test_downloads_of_one_image_arriving_together_render_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool, shared: bool
) -> None:
    # The first answers of a cache_results run all name the same placeholder, and their
    # downloads arrive at once: one render, which the others wait for and read.
    import threading

    render = compositor.replace_background
    renders: list[str] = []

    def slow_render(*args: object, **kwargs: object) -> bytes:
        renders.append(str(kwargs["prompt"]))
        threading.Event().wait(0.2)  # long enough for every download to ask meanwhile
        return render(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(compositor, "replace_background", slow_render)
    store, key = store_with_upload(tmp_path / "cache" if shared else None, studio_photo())
    image = ResultSpec(key, "on a beach", "1024x1024", "png", 100, 0, cached=cached)
    got = at_once([lambda: store.render(image)] * 6)
    assert len(renders) == 1, renders
    assert len(got) == 6 and len(set(got)) == 1
    assert not store._rendering  # nothing left behind for images no longer rendered


def test_the_key_changes_with_the_compositor_and_the_png_chunks_it_writes(tmp_path, monkeypatch):
    # Either changes the bytes of a render: a cache made before must not serve them.
    from runner import png_chunks
    from runner.emulator import compositor, render_cache

    digest = render_cache._compositor_digest.__wrapped__
    before = digest()
    for module in (compositor, png_chunks):
        changed = tmp_path / f"{module.__name__}.py"
        changed.write_bytes(Path(module.__file__).read_bytes() + b"\n# changed\n")
        with monkeypatch.context() as patch:
            patch.setattr(module, "__file__", str(changed))
            assert digest() != before, module.__name__
    assert digest() == before


def test_a_photo_is_scaled_once_per_canvas_size_and_renders_the_same_bytes(monkeypatch):
    """The store keeps a photo's subject scaled to its place: the pictures of one photo at one
    canvas size (every variant 0) scale it once, and each image is the one composed alone."""
    fits: list[tuple[int, int]] = []
    fit = compositor.fit_subject

    def counted(subject: Image.Image, size: tuple[int, int]) -> compositor.Fitted:
        fits.append(size)
        return fit(subject, size)

    monkeypatch.setattr(compositor, "fit_subject", counted)
    green, blue = studio_photo(), studio_photo(subject=(30, 60, 220))
    store, first = store_with_upload(None, green)
    second = store.add_upload("cap.png", blue, "image/png", "png")
    asked = [
        (first, "on a beach", "640x400", 0),
        (first, "in the snow", "640x400", 0),  # the same photo and canvas: scaled already
        (first, "in the snow", "400x640", 0),  # another canvas: another scale
        (first, "in the snow", "640x400", 1),  # a later variant is placed smaller
        (second, "on a beach", "640x400", 0),  # another photo at the same canvas size
    ]
    for source, prompt, size, variant in asked:
        photo = green if source == first else blue
        alone = compositor.replace_background(
            compositor.load_subject(photo),
            prompt=prompt,
            size=size,
            output_format="png",
            compression=85,
            variant=variant,
            fit=fit,
        )
        wanted = ResultSpec(source, prompt, size, "png", 85, variant, cached=False)
        assert store.render(wanted) == alone, (source, prompt, size, variant)
    assert len(fits) == 4 and len(set(fits)) == 3, fits  # two photos share a size, not a fit


def test_renders_of_one_photo_arriving_together_scale_it_once(monkeypatch):
    # A run's first downloads are other pictures of the same photo, at once: one scales it,
    # the others wait for that and use it.
    import threading

    fit = compositor.fit_subject
    fits: list[tuple[int, int]] = []

    def slow_fit(subject: Image.Image, size: tuple[int, int]) -> compositor.Fitted:
        fits.append(size)
        threading.Event().wait(0.2)  # long enough for every render to ask meanwhile
        return fit(subject, size)

    monkeypatch.setattr(compositor, "fit_subject", slow_fit)
    store, key = store_with_upload(None, studio_photo())
    prompts = ("on a beach", "in the snow", "on a red table", "in a loft")
    specs = [ResultSpec(key, prompt, "320x320", "jpeg", 80, 0, cached=False) for prompt in prompts]
    got = at_once([functools.partial(store.render, spec) for spec in specs])
    assert len(fits) == 1, fits
    assert len(got) == 4 and len(set(got)) == 4
    assert not store._rendering


def at_once(calls: list[Callable[[], bytes]]) -> list[bytes]:
    """What each call gives, the calls made from threads that start them together."""
    import threading

    start = threading.Barrier(len(calls))
    got: list[bytes] = []

    def call(make: Callable[[], bytes]) -> None:
        start.wait()
        got.append(make())

    threads = [threading.Thread(target=call, args=(make,)) for make in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got
