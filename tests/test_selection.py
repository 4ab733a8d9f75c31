"""--only, --limit, --shard and --retry-failed over a plan's jobs."""

from __future__ import annotations

import hashlib

import pytest

from runner.diagnostics import UsageError
from runner.execute.selection import Selection, Shard, parse_only, select_jobs
from runner.plan.plan_model import ImageSource, Job, PromptObject


def make_job(index: int, **vars: object) -> Job:
    key = hashlib.sha256(f"job-{index}".encode()).hexdigest()
    return Job(
        key=key,
        index=index,
        vars=vars,
        label=" ".join(f"{k}={v}" for k, v in vars.items()),
        image=ImageSource("asset", "images/x.png"),
        prompt_object=PromptObject("a beach", "1024x1024", 1, "low", "png", 100),
        outputs=(f"out/{index}.png",),
    )


JOBS = tuple(
    make_job(
        i,
        season=season,
        market={"code": code, "name": name},
        hero=(i % 2 == 0),
    )
    for i, (season, (code, name)) in enumerate(
        (s, m)
        for s in ("spring", "summer", "winter")
        for m in (("fr-FR", "France"), ("de-DE", "Germany"), ("en-GB", "UK"))
    )
)


def labels(jobs):
    return [(j.vars["season"], j.vars["market"]["code"]) for j in jobs]


def test_no_filters_select_everything_in_plan_order():
    assert select_jobs(JOBS, Selection()) == JOBS


def test_only_filters_by_axis_and_dotted_path():
    picked = select_jobs(JOBS, Selection.from_cli(["season=spring", "market.code=fr-FR"]))
    assert labels(picked) == [("spring", "fr-FR")]


def test_several_values_for_one_key_or_together():
    picked = select_jobs(JOBS, Selection.from_cli(["season=spring", "season=winter"]))
    assert {s for s, _ in labels(picked)} == {"spring", "winter"}
    assert len(picked) == 6


def test_only_matches_booleans_as_written_in_yaml():
    picked = select_jobs(JOBS, Selection.from_cli(["hero=true"]))
    assert [j.index for j in picked] == [0, 2, 4, 6, 8]


def test_an_unknown_key_is_a_usage_error_with_did_you_mean():
    with pytest.raises(UsageError) as info:
        select_jobs(JOBS, Selection.from_cli(["seasn=spring"]))
    assert "did you mean 'season'" in info.value.message
    assert "market.code" in (info.value.hint or "")


def test_a_mapping_is_picked_by_the_value_its_job_labels_show():
    # Job labels read "market=fr-FR" (a mapping's first value): the same text selects.
    picked = select_jobs(JOBS, Selection.from_cli(["market=fr-FR", "market=en-GB"]))
    assert {code for _, code in labels(picked)} == {"fr-FR", "en-GB"} and len(picked) == 6
    both = select_jobs(JOBS, Selection.from_cli(["market=de-DE", "season=summer"]))
    assert labels(both) == [("summer", "de-DE")]


def test_a_label_that_matches_no_mapping_lists_labels_and_fields():
    with pytest.raises(UsageError) as info:
        select_jobs(JOBS, Selection.from_cli(["market=France"]))
    assert info.value.message == "--only market=France: no job has market = 'France'"
    hint = info.value.hint or ""
    assert hint.startswith("known values of market: de-DE, en-GB, fr-FR")
    assert "--only market.code=..." in hint and "--only market.name=..." in hint


def test_every_label_value_of_a_real_plan_selects_its_jobs(tmp_path):
    from pathlib import Path

    from runner.plan.planner import plan_recipe
    from runner.recipe.build import load_recipe

    example = Path(__file__).parent / "fixtures" / "example" / "spring-campaign.yaml"
    plan = plan_recipe(load_recipe(example), output_dir=tmp_path / "out")
    for axis in ("product", "market"):
        shown = {part for job in plan.jobs for part in job.label.split() if part.startswith(axis)}
        assert len(shown) >= 2
        for item in shown:  # e.g. "product=MUG-01", exactly as the label shows it
            picked = select_jobs(plan.jobs, Selection.from_cli([item]))
            assert picked == tuple(job for job in plan.jobs if item in job.label.split())


def test_a_value_matching_nothing_lists_the_known_values():
    with pytest.raises(UsageError) as info:
        select_jobs(JOBS, Selection.from_cli(["season=autumn"]))
    assert "autumn" in info.value.message
    assert info.value.hint == "known values of season: spring, summer, winter"


def test_only_needs_key_equals_value():
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_only("season")
    assert parse_only("market.code = fr-FR") == ("market.code", "fr-FR")


def test_limit_takes_the_first_n_after_the_other_filters():
    picked = select_jobs(JOBS, Selection.from_cli(["season=summer"], limit=2))
    assert labels(picked) == [("summer", "fr-FR"), ("summer", "de-DE")]


def test_limit_must_be_positive():
    with pytest.raises(UsageError, match="at least 1"):
        Selection(limit=0)


def test_shards_partition_the_jobs_deterministically():
    many = tuple(make_job(i, n=i) for i in range(200))
    shards = [select_jobs(many, Selection(shard=Shard(k, 4))) for k in range(1, 5)]
    keys = [j.key for shard in shards for j in shard]
    assert sorted(keys) == sorted(j.key for j in many)  # every job exactly once
    assert all(20 < len(shard) < 80 for shard in shards)
    expected = [j for j in many if int(j.key[:16], 16) % 4 == 1]
    assert list(shards[1]) == expected
    assert select_jobs(many, Selection(shard=Shard(2, 4))) == shards[1]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0/4", "between 1 and 4"),
        ("5/4", "between 1 and 4"),
        ("1/0", "at least 1"),
        ("two/4", "K/N"),
        ("3", "K/N"),
        ("-1/4", "K/N"),
    ],
)
def test_bad_shards_are_usage_errors(text, problem):
    with pytest.raises(UsageError, match=problem):
        Shard.parse(text)


def test_retry_failed_keeps_only_the_failed_keys():
    failed = {JOBS[1].key, JOBS[5].key}
    assert select_jobs(JOBS, Selection(), failed_keys=failed) == (JOBS[1], JOBS[5])
    assert select_jobs(JOBS, Selection(), failed_keys=set()) == ()


def test_selection_is_frozen():
    selection = Selection()
    with pytest.raises(AttributeError):
        selection.limit = 3  # type: ignore[misc]


def test_keys_that_are_not_hex_still_shard_stably():
    owners = [k for k in range(1, 4) if Shard(k, 3).contains("not-hex-at-all")]
    assert len(owners) == 1
