"""Jobs: resolved promptObject, API limits, images, output paths and job keys."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from runner.api import limits
from runner.diagnostics import RecipeError
from runner.plan.outputs import output_paths
from runner.plan.planner import plan_recipe
from tests.plan_support import headlines, plan_errors, plan_text, png_bytes

PNG = png_bytes()


def recipe(
    *,
    defaults: str = "{ size: 1536x1024, quality: medium, n: 1, output_format: webp }",
    include: str = "",
    image: str = "a.png",
    prompt: str = '"{{ product.name }} in {{ season }}"',
    output: str = '"{{ market.code }}/{{ product.sku }}-{{ season }}"',
) -> str:
    text = (
        "version: 1\n"
        "name: spring\n"
        f"defaults: {defaults}\n"
        "matrix:\n"
        "  product:\n"
        "    - { sku: MUG-01, name: mug, n: '2' }\n"
        "    - { sku: TOTE-02, name: tote, n: 'x' }\n"
        "  season: [spring, winter]\n"
        "  market: { csv: markets.csv }\n"
    )
    if include:
        text += f"  include:\n{include}"
    return text + f"image: {image}\nprompt: {prompt}\noutput: {output}\n"


FILES: dict[str, bytes | str] = {"a.png": PNG, "markets.csv": "code,n\nfr-FR,3\n"}


def test_default_plan_resolves_every_job(tmp_path):
    plan = plan_text(tmp_path, recipe(), FILES)
    assert [job.label for job in plan.jobs] == [
        "product=MUG-01 season=spring market=fr-FR",
        "product=MUG-01 season=winter market=fr-FR",
        "product=TOTE-02 season=spring market=fr-FR",
        "product=TOTE-02 season=winter market=fr-FR",
    ]
    assert [job.index for job in plan.jobs] == [0, 1, 2, 3]
    first = plan.jobs[0]
    assert first.prompt_object.to_json() == {
        "prompt": "mug in spring",
        "size": "1536x1024",
        "n": 1,
        "quality": "medium",
        "output_format": "webp",
        "output_compression": limits.DEFAULT_PROMPT_OBJECT["output_compression"],
    }
    assert first.outputs == ("fr-FR/MUG-01-spring.webp",)
    assert first.image.kind == "file" and first.image.mimetype == "image/png"
    assert plan.output_dir == tmp_path.absolute() / "out" / "spring"
    assert plan.axes == ("product", "season", "market")


def test_unset_output_compression_is_the_documented_85(tmp_path):
    # README's recipe reference (and the seed's example) say 85; it was sent as 100.
    plan = plan_text(tmp_path, recipe(), FILES)
    assert {job.prompt_object.output_compression for job in plan.jobs} == {85}
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    assert "Unset fields default to `1024x1024`, `medium`, `1`, `png`, `85`." in readme


def test_templated_numbers_become_numbers_and_n_suffixes_outputs(tmp_path):
    plan = plan_text(tmp_path, recipe(defaults='{ n: "{{ market.n }}", quality: low }'), FILES)
    assert plan.jobs[0].prompt_object.n == 3
    assert plan.jobs[0].outputs == (
        "fr-FR/MUG-01-spring-1.png",
        "fr-FR/MUG-01-spring-2.png",
        "fr-FR/MUG-01-spring-3.png",
    )


def test_templated_number_that_is_not_a_number_is_an_error(tmp_path):
    text = recipe(defaults='{ n: "{{ product.n }}" }')
    (diagnostic,) = plan_errors(tmp_path, text, FILES)
    assert diagnostic.headline() == (
        "recipe.yaml:3:16: error: defaults.n: n: 'x' (from '{{ product.n }}') is not a whole "
        "number (in job product=TOTE-02 season=spring market=fr-FR and 1 other job)"
    )


def test_api_limit_violation_names_the_job_and_the_include_line(tmp_path):
    include = "    - { product: { sku: TOTE-02 }, season: winter, n: 12 }\n"
    diagnostics = plan_errors(tmp_path, recipe(include=include), FILES)
    assert headlines(diagnostics) == [
        "recipe.yaml:11:55: error: matrix.include[0].n: n: 12 is out of range (the API allows "
        "1 to 10) (in job product=TOTE-02 season=winter market=fr-FR)"
    ]


def test_templated_enum_gets_did_you_mean_at_the_defaults_line(tmp_path):
    text = recipe(defaults="{ quality: \"{{ 'hgih' if season == 'winter' else 'low' }}\" }")
    (diagnostic,) = plan_errors(tmp_path, text, FILES)
    assert diagnostic.path == "defaults.quality"
    assert str(diagnostic.span) == "recipe.yaml:3:22"
    assert diagnostic.message == (
        "quality: 'hgih' is not one of low, medium, high (did you mean 'high'?) "
        "(in job product=MUG-01 season=winter market=fr-FR and 1 other job)"
    )


def test_prompt_too_long_names_prompt_line(tmp_path):
    text = recipe(prompt="\"{{ 'word ' * 900 }}\"")
    (diagnostic,) = plan_errors(tmp_path, text, FILES)
    assert diagnostic.headline() == (
        "recipe.yaml:11:9: error: prompt: the prompt is longer than the API allows (at most "
        "4,000 characters) (in all 4 jobs)"
    )


def test_prompts_too_long_by_different_amounts_are_one_error_with_a_count(tmp_path):
    # Each job's prompt has a different length: still one error, with the count and a hint.
    text = recipe(prompt="\"{{ 'word ' * 900 }}{{ 'more ' if season == 'winter' }}\"")
    (diagnostic,) = plan_errors(tmp_path, text, FILES)
    assert diagnostic.message == (
        "the prompt is longer than the API allows (at most 4,000 characters) (in all 4 jobs)"
    )
    assert diagnostic.hint is not None
    assert diagnostic.hint.startswith("job product=MUG-01 season=spring market=fr-FR has 4,500;")


def test_empty_rendered_prompt_is_refused(tmp_path):
    text = recipe(prompt="\"{{ '' if season == 'spring' else 'ok' }}\"")
    (diagnostic,) = plan_errors(tmp_path, text, FILES)
    assert diagnostic.message.startswith("the prompt is empty (in job product=MUG-01 season=spring")


def test_include_overrides_defaults_for_its_jobs_only(tmp_path):
    include = "    - { product: { sku: MUG-01 }, season: spring, quality: high }\n"
    plan = plan_text(tmp_path, recipe(include=include), FILES)
    assert [job.prompt_object.quality for job in plan.jobs] == [
        "high",
        "medium",
        "medium",
        "medium",
    ]
    assert plan.jobs[0].vars["quality"] == "high"


# --- images -----------------------------------------------------------------------------


def encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 3), (10, 20, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "fmt", "mimetype"),
    [
        ("a.jpg", "JPEG", "image/jpeg"),
        ("a.webp", "WEBP", "image/webp"),
        ("a.png", "PNG", "image/png"),
    ],
)
def test_local_images_in_each_format(tmp_path, name, fmt, mimetype):
    plan = plan_text(tmp_path, recipe(image=name), {**FILES, name: encoded(fmt)})
    image = plan.jobs[0].image
    assert (image.kind, image.ref, image.mimetype) == ("file", name, mimetype)
    assert image.path == tmp_path / name
    assert plan.upload_count == 1


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("missing.png", "the image missing.png does not exist"),
        ("notes.png", "notes.png is not a PNG, JPEG or WebP image"),
        ("broken.png", "broken.png looks like PNG but cannot be read as one"),
        ("http://example.com/a.png", "http://example.com/a.png uses http://, which is not allowed"),
        ("ftp://example.com/a.png", "is neither a file path, an https:// URL nor an asset"),
        ("'asset:'", "the asset key after 'asset:' is empty"),
    ],
)
def test_bad_images_are_reported_at_the_image_line(tmp_path, image, message):
    files = {**FILES, "notes.png": "just text", "broken.png": PNG[:40]}
    (diagnostic,) = plan_errors(tmp_path, recipe(image=image), files)
    assert str(diagnostic.span) == "recipe.yaml:10:8"
    assert message in diagnostic.message
    assert "(in all 4 jobs)" in diagnostic.message


def test_an_image_path_in_curly_quotes_gets_the_straight_quotes_hint(tmp_path):
    # Typed in a word processor: YAML keeps the curly quotes as part of the path.
    (diagnostic,) = plan_errors(tmp_path, recipe(image="\u201cmug.png\u201d"), FILES)
    assert "the image \u201cmug.png\u201d does not exist" in diagnostic.message
    assert diagnostic.hint == 'curly quotes are part of the path: quote with straight ones, "..."'


def test_url_and_asset_images(tmp_path):
    text = recipe(
        image="\"{{ 'https://cdn.example.com/' ~ product.sku if season == 'spring' "
        "else 'asset:images/' ~ product.sku }}\""
    )
    plan = plan_text(tmp_path, text, FILES)
    assert [(j.image.kind, j.image.ref) for j in plan.jobs[:2]] == [
        ("url", "https://cdn.example.com/MUG-01"),
        ("asset", "images/MUG-01"),
    ]
    assert plan.jobs[0].image.identity == "url:https://cdn.example.com/MUG-01"
    assert plan.upload_count == 0


# --- outputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rendered", "message"),
    [
        ("/etc/passwd", "is absolute"),
        ("C:/out/a", "is absolute"),
        ("a\\b", "contains a backslash"),
        ("../escape", "goes up a folder with '..'"),
        ("fr/../../x", "goes up a folder with '..'"),
        ("", "the output path is empty"),
        ("  ", "the output path is empty"),
        ("./", "names a folder"),
        ("sub/", "names a folder"),
        (".backdrop/state", ".backdrop is reserved"),
        (".backdrop-x", ".backdrop-x is reserved"),
        ("a\x00b", "control characters"),
    ],
)
def test_output_path_rules(rendered, message):
    with pytest.raises(Exception) as caught:
        output_paths(rendered, "png", 1)
    assert message in str(caught.value)


def test_output_paths_normalise_and_keep_reserved_names_below_the_root():
    assert output_paths("./a//b", "webp", 1) == ("a/b.webp",)
    assert output_paths("a.webp", "webp", 2) == ("a-1.webp", "a-2.webp")
    assert output_paths("sub/report", "html", 1) == ("sub/report.html",)
    assert output_paths("results", "png", 1) == ("results.png",)


def test_report_file_names_are_reserved_at_the_root():
    with pytest.raises(Exception, match=r"REPORT\.html is reserved"):
        output_paths("REPORT", "html", 1)


def test_output_path_escaping_is_an_error_at_the_output_line(tmp_path):
    text = recipe(output='"../{{ product.sku }}-{{ season }}"')
    (diagnostic,) = plan_errors(tmp_path, text, FILES)
    assert str(diagnostic.span) == "recipe.yaml:12:9"
    assert "goes up a folder with '..'" in diagnostic.message


def test_output_through_a_symlink_out_of_the_folder_is_an_error(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "out" / "spring").mkdir(parents=True)
    os.symlink(outside, tmp_path / "out" / "spring" / "fr-FR")
    (diagnostic,) = plan_errors(tmp_path, recipe(), FILES)
    assert diagnostic.message == (
        "the folder fr-FR in the output folder is a link to a place outside it (in all 4 jobs)"
    )


def test_shared_output_names_both_jobs(tmp_path):
    text = recipe(output='"{{ market.code }}/{{ product.sku }}"')
    diagnostics = plan_errors(tmp_path, text, FILES)
    assert headlines(diagnostics) == [
        "recipe.yaml:12:9: error: output: the output fr-FR/MUG-01.webp is shared by two jobs: "
        "product=MUG-01 season=spring market=fr-FR and product=MUG-01 season=winter "
        "market=fr-FR (and 1 more like it)"
    ]


def test_outputs_differing_only_in_case_clash(tmp_path):
    text = recipe(output="\"{{ 'A' if season == 'spring' else 'a' }}-{{ product.sku }}\"")
    (diagnostic,) = plan_errors(tmp_path, text, FILES)
    assert diagnostic.message.startswith(
        "the outputs 'A-MUG-01.webp' and 'a-MUG-01.webp' are one file on macOS and Windows"
    )


def test_output_dir_from_recipe_or_argument(tmp_path):
    plan = plan_text(tmp_path, "output_dir: renders\n" + recipe(), FILES)
    assert plan.output_dir == tmp_path.absolute() / "renders"
    plan = plan_text(tmp_path, recipe(), FILES, output_dir=tmp_path / "x")
    assert plan.output_dir == tmp_path / "x"


# --- job keys ---------------------------------------------------------------------------


def test_job_keys_are_stable_across_folders_and_change_only_with_their_inputs(tmp_path):
    first = plan_text(tmp_path / "one", recipe(), FILES)
    second = plan_text(tmp_path / "two", recipe(), FILES)
    assert [j.key for j in first.jobs] == [j.key for j in second.jobs]
    assert len({j.key for j in first.jobs}) == 4
    assert all(len(j.key) == 64 for j in first.jobs)

    # A prompt change for winter only: exactly the winter jobs get new keys.
    changed = recipe(
        prompt="\"{{ product.name }} in {{ season }}{{ ' snow' if season == 'winter' }}\""
    )
    third = plan_text(tmp_path / "three", changed, FILES)
    same = [a.key == b.key for a, b in zip(first.jobs, third.jobs, strict=True)]
    assert same == [True, False, True, False]


def test_job_key_follows_image_content_not_its_name(tmp_path):
    first = plan_text(tmp_path / "one", recipe(), FILES)
    renamed = plan_text(tmp_path / "two", recipe(image="b.png"), {**FILES, "b.png": PNG})
    assert [j.key for j in first.jobs] == [j.key for j in renamed.jobs]
    other = png_bytes(rgb=(1, 2, 3))
    changed = plan_text(tmp_path / "three", recipe(), {**FILES, "a.png": other})
    assert not {j.key for j in first.jobs} & {j.key for j in changed.jobs}


def test_a_job_key_is_the_sha256_of_the_whole_request_as_canonical_json():
    """Keys are on record in every state and lock: the text hashed must stay json.dumps with
    sorted keys of the whole request, whatever the fields hold, though job_key reuses the
    text around the prompt (a prompt, URL or field holding the mark it splits on, and values
    equal but printed otherwise: 1 and True, 0.0 and -0.0)."""
    import hashlib
    import json

    from runner.plan import jobs
    from runner.plan.jobs import job_key
    from runner.plan.plan_model import ImageSource, PromptObject

    mark = "\x00prompt\x00"
    images = [
        ImageSource("file", "a.png", sha256="ab" * 32),
        ImageSource("url", f'https://example.com/{mark}"\\'),
        ImageSource("asset", "images/k"),
        ImageSource("url", "https://example.com/" + "a" * 10_000),  # encoded whole each time
    ]
    prompts = ["a mug", "", mark, f"{mark} and {mark}", 'a "quote", \\, é, 😀, \u2028\x7f']
    fields = [
        ("1024x1024", 1, "low", "png", 80),
        ("1024x1024", True, "low", "png", 80),
        ("1024x1024", 1, "low", "png", 80.0),
        ("1024x1024", 1, "low", "png", 0.0),
        ("1024x1024", 1, "low", "png", -0.0),
        (mark, 2, "high", "webp", 0),
        ("1536x1024", 10, mark, "jpeg", 100),
        ("1024x1024", 1, "low", mark, 80),
    ]
    for _ in range(2):  # the second time, the text around each prompt is reused
        for image in images:
            for size, n, quality, output_format, compression in fields:
                for prompt in prompts:
                    po = PromptObject(prompt, size, n, quality, output_format, compression)  # type: ignore[arg-type]
                    request = {
                        "type": limits.FEATURE_TYPE,
                        "model": limits.MODEL,
                        "image": image.identity,
                        "prompt_object": po.to_json(),
                    }
                    text = json.dumps(
                        request, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                    )
                    assert job_key(image, po) == hashlib.sha256(text.encode()).hexdigest()
    assert all(len(rest[0]) < 10_000 for rest in jobs._AROUND_PROMPT)  # long texts not kept


def test_defaults_are_checked_for_every_job_though_worked_out_once(tmp_path):
    """The fields every job shares are worked out once per plan (JobBuilder.static_fields). A
    Recipe built by a library caller, not loaded, can hold defaults the schema never saw:
    each job still says what the API refuses, and text for a number is still a number."""
    import dataclasses

    from tests.plan_support import make_recipe

    loaded = make_recipe(tmp_path, recipe(), FILES)
    refused = dataclasses.replace(loaded, defaults={**loaded.defaults, "quality": "ultra"})
    with pytest.raises(RecipeError) as raised:
        plan_recipe(refused)
    lines = headlines(list(raised.value.diagnostics()))
    assert any("quality: 'ultra' is not one of low, medium, high" in line for line in lines)
    assert any("all 4 jobs" in line for line in lines), lines
    as_text = dataclasses.replace(loaded, defaults={**loaded.defaults, "n": "2"})
    assert [job.prompt_object.n for job in plan_recipe(as_text).jobs] == [2, 2, 2, 2]


def test_output_path_is_not_part_of_the_key(tmp_path):
    first = plan_text(tmp_path / "one", recipe(), FILES)
    moved = plan_text(tmp_path / "two", recipe(output='"x/{{ product.sku }}-{{ season }}"'), FILES)
    assert [j.key for j in first.jobs] == [j.key for j in moved.jobs]


def test_axes_named_like_prompt_fields_override_defaults_as_data(tmp_path):
    text = (
        "version: 1\nname: t\ndefaults: { quality: low, n: 1 }\n"
        "matrix:\n  quality: [medium, high]\n  n: ['2']\n"
        'image: a.png\nprompt: p\noutput: "{{ quality }}-{{ n }}"\n'
    )
    plan = plan_text(tmp_path, text, {"a.png": PNG})
    assert [(j.prompt_object.quality, j.prompt_object.n) for j in plan.jobs] == [
        ("medium", 2),
        ("high", 2),
    ]
    assert plan.jobs[0].outputs == ("medium-2-1.png", "medium-2-2.png")


def test_templated_include_override_is_rendered_and_checked_at_its_line(tmp_path):
    include = "    - { season: winter, quality: \"{{ 'best' }}\" }\n"
    (diagnostic,) = plan_errors(tmp_path, recipe(include=include), FILES)
    assert diagnostic.path == "matrix.include[0].quality"
    assert str(diagnostic.span) == "recipe.yaml:11:34"
    assert diagnostic.message.startswith("quality: 'best' is not one of low, medium, high")


def test_repeated_requests_get_distinct_stable_keys(tmp_path):
    # Two markets with the same prompt: two paid generations, so two records in the state.
    files = {**FILES, "markets.csv": "code,n\nen-US,1\nen-GB,1\n"}
    prompt = '"{{ product.name }} in {{ season }}"'
    first = plan_text(tmp_path / "one", recipe(prompt=prompt), files)
    keys = [j.key for j in first.jobs]
    assert len(set(keys)) == len(keys) == 8
    again = plan_text(tmp_path / "two", recipe(prompt=prompt), files)
    assert [j.key for j in again.jobs] == keys
    # The first occurrence keeps the plain key that a single-market recipe gets.
    single = plan_text(tmp_path / "three", recipe(prompt=prompt), FILES)
    assert single.jobs[0].key == first.jobs[0].key
