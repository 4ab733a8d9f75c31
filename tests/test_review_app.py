"""The review server over real loopback HTTP: token, Host and Origin checks, files, merges, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.execute.kept_takes import take_path
from runner.records.run_records import FileRecord, JobRecord, RunSnapshot
from runner.records.state import StateStore
from runner.report.writer import write_reports
from runner.review.decision_model import Decision, EarlierTake, Review, review_key
from runner.review.decisions import REVIEW_NAME, load_review, save_review
from runner.review.listing import MAX_CARDS, PAGE_SIZE
from runner.review.review_app import TOKEN_HEADER
from runner.review.review_server import ReviewServer
from tests import statehelp
from tests.clihelp import run_cli
from tests.platforms import posix_only
from tests.report_snapshots import SCRIPT, build_snapshot, campaign_specs, make_sources
from tests.reviewhelp import api_get, page_index, page_jobs, page_version, shown_images


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunSnapshot]:
    root = tmp_path_factory.mktemp("review")
    out = root / "out"
    snapshot = build_snapshot(out, make_sources(root / "src"), campaign_specs())
    (root / "secret.png").write_bytes((out / "job-000-1.webp").read_bytes())
    (out / "link-out.png").symlink_to(root / "secret.png")
    (out / "link-in.webp").symlink_to(out / "job-002.webp")
    (out / "notes.txt").write_text("not an image")
    return out, snapshot


@pytest.fixture
def server(folder: tuple[Path, RunSnapshot]) -> Iterator[ReviewServer]:
    out, snapshot = folder
    (out / REVIEW_NAME).unlink(missing_ok=True)
    with ReviewServer(out, lambda: snapshot) as running:
        yield running


def post(server: ReviewServer, body: dict[str, Any], **headers: str) -> httpx.Response:
    """POST a decision as the page does: with the images it shows, unless the body has some."""
    if "images" not in body and body.get("action") in ("approve", "reject", "pick"):
        body = {**body, "images": shown_images(server).get(str(body.get("job")), [])}
    sent = {"Origin": server.base_url, TOKEN_HEADER: server.token, **headers}
    return httpx.post(f"{server.base_url}/api/decision", json=body, headers=sent)


def test_the_page_needs_the_token_and_our_host(server: ReviewServer) -> None:
    assert httpx.get(server.url).status_code == 200
    assert httpx.get(f"{server.base_url}/").status_code == 403
    assert httpx.get(f"{server.base_url}/?token=wrong").status_code == 403
    # DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own Host.
    rebound = httpx.get(server.url, headers={"Host": "evil.example"})
    assert rebound.status_code == 403
    port = server.base_url.rsplit(":", 1)[1]
    assert httpx.get(server.url, headers={"Host": f"localhost:{port}"}).status_code == 200


def test_the_jobs_json_needs_the_token_and_our_host(server: ReviewServer) -> None:
    version = page_version(server)
    for path, params in (("/api/index", {}), ("/api/jobs", {"at": "0,1"})):
        url = f"{server.base_url}{path}"
        query = {"version": version, **params}
        assert httpx.get(url, params={**query, "token": server.token}).status_code == 200
        assert httpx.get(url, params=query).status_code == 403
        assert httpx.get(url, params={**query, "token": "wrong"}).status_code == 403
        rebound = httpx.get(
            url, params={**query, "token": server.token}, headers={"Host": "evil.example"}
        )
        assert rebound.status_code == 403


def test_the_page_escapes_recipe_values_and_keeps_a_csp(server: ReviewServer) -> None:
    answer = httpx.get(server.url)
    assert SCRIPT not in answer.text
    assert "summer &lt;script&gt;window.__pwned = 1;" in answer.text  # a filter's label
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    # The jobs are not in the HTML: the script draws them as text from JSON (never sniffed as
    # HTML), and the browser test checks they stay inert there.
    assert "<article" not in answer.text.split("<template")[0]
    cards = api_get(server, "/api/jobs", version=page_version(server), at="4")
    assert cards.headers["content-type"] == "application/json"
    assert cards.headers["x-content-type-options"] == "nosniff"
    assert cards.json()["jobs"][0]["label"].count(SCRIPT) == 1
    assert len(page_jobs(server)) == 12


def test_details_read_as_the_reports_do(server: ReviewServer) -> None:
    """Issue 17: a mapping's values as `name: value` rows, not raw JSON; as in report.html."""
    from runner.report.content import folder_content
    from runner.report.html_view import details

    jobs = {job["key"]: job for job in page_jobs(server)}
    rows = dict(map(tuple, jobs["job-000"]["details"]))
    assert rows["product.sku"] == "MUG-01" and rows["product.name"] == "ceramic mug"
    assert rows["market.setting"] == "un café parisien"
    assert not any("{" in value for value in rows.values())
    snapshot = server.load_snapshot()
    generated = folder_content(snapshot).generated
    for record in snapshot.jobs:  # one formatter for both pages
        shown = jobs[review_key(record.outputs)]["details"]
        expected = details(record, record.shown_status, generated[record.key])
        assert shown == [list(row) for row in expected]


def test_the_jobs_json_refuses_what_the_page_never_asks(server: ReviewServer) -> None:
    version = page_version(server)

    def cards(**params: str) -> httpx.Response:
        return api_get(server, "/api/jobs", **{"version": version, **params})

    assert [job["position"] for job in cards(at="11,0,5").json()["jobs"]] == [11, 0, 5]
    assert cards(at="").json()["jobs"] == []
    for at in ("12", "-1", "1,,2", "x", "1.5", "٣", "9" * 30, ",".join(["1"] * (MAX_CARDS + 1))):
        answer = cards(at=at)
        assert answer.status_code == 400, at
        assert "positions of jobs" in answer.json()["error"] or "at most" in answer.json()["error"]
    # A page built on another run's jobs (or none kept): told to reload, never shown others.
    for other in ("0" * 20, ""):
        stale = cards(at="0", version=other)
        assert stale.status_code == 409 and "reload the page" in stale.json()["error"]
        stale_index = api_get(server, "/api/index", version=other)
        assert stale_index.status_code == 409
    # A mistake made by hand in review.yaml: the page says where, as `backdrop review` does.
    (server.output_dir / REVIEW_NAME).write_text("version: 1\njobs:\n  a:\n    status: done\n")
    broken = cards(at="0")
    assert broken.status_code == 503
    assert "review.yaml:4:13: error: jobs.a.status: 'done'" in broken.json()["error"]


def test_a_page_built_before_a_run_changed_the_jobs_still_gets_its_own(
    folder: tuple[Path, RunSnapshot],
) -> None:
    """Positions name the jobs of the page's own listing, never another run's at that place."""
    import dataclasses

    out, snapshot = folder
    (out / REVIEW_NAME).unlink(missing_ok=True)
    shown = [snapshot]
    with ReviewServer(out, lambda: shown[0]) as server:
        before = page_version(server)
        shown[0] = dataclasses.replace(snapshot, jobs=snapshot.jobs[1:])  # a run dropped job 0
        after = page_version(server)  # another tab loads the page
        assert after != before
        old = api_get(server, "/api/jobs", version=before, at="0").json()["jobs"]
        new = api_get(server, "/api/jobs", version=after, at="0").json()["jobs"]
        assert (old[0]["key"], new[0]["key"]) == ("job-000", "job-001")


def test_the_page_script_never_parses_data_as_markup() -> None:
    """Every value reaches the page through textContent or setAttribute (the CSP is the net)."""
    from importlib import resources

    script = resources.files("runner.review").joinpath("assets", "review.js").read_text("utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "textContent" in script


def test_the_index_has_every_job_for_the_filters_and_counts(server: ReviewServer) -> None:
    save_review(
        server.output_dir,
        Review({"job-004": Decision("rejected", sha256=tuple(shown_images(server)["job-004"]))}),
    )
    index = page_index(server)
    assert index["total"] == 12 and index["page_size"] == PAGE_SIZE
    assert [index["statuses"][s] for s in index["status"]].count("rejected") == 1
    assert index["statuses"][index["status"][4]] == "rejected"
    assert [index["runs"][r] for r in index["run"][:3]] == ["done", "failed", "done"]
    products, seasons, markets = index["values"]
    assert products == [0] * 6 + [1] * 6 and markets == [0, 1] * 6
    assert seasons[4] != seasons[0]  # the planted season is a value of its own
    assert index["counts"] == {"pending": 11, "approved": 0, "rejected": 1}
    assert SCRIPT not in json.dumps(index)  # numbers only: no recipe text


def test_the_first_load_of_5000_jobs_is_under_1_mb(tmp_path: Path) -> None:
    """Issue 17: the page, its index and its first page of cards, at 5,000 jobs (n = 2)."""
    snapshot = big_snapshot(5000)
    with ReviewServer(tmp_path / "out", lambda: snapshot) as server, httpx.Client() as client:
        shell = client.get(server.url)
        version = page_version(server, client)
        query = {"token": server.token, "version": version}
        index = client.get(f"{server.base_url}/api/index", params=query)
        at = ",".join(map(str, range(index.json()["page_size"])))
        cards = client.get(f"{server.base_url}/api/jobs", params={**query, "at": at})
        assert len(cards.json()["jobs"]) == PAGE_SIZE
        first_load = len(shell.content) + len(index.content) + len(cards.content)
        assert first_load < 1_000_000, first_load
        # ... and the last job is there, for paging to reach.
        last = client.get(f"{server.base_url}/api/jobs", params={**query, "at": "4999"})
        assert last.json()["jobs"][0]["label"].endswith("#4999")


def big_snapshot(count: int) -> RunSnapshot:
    """A run of `count` done jobs (n = 2, products as mappings), without files on disk."""
    jobs = []
    for i in range(count):
        outputs = (f"m{i % 20}/job-{i:05d}-1.webp", f"m{i % 20}/job-{i:05d}-2.webp")
        files = tuple(
            FileRecord(path, hashlib.sha256(path.encode()).hexdigest(), 1536, 1024, 90_000)
            for path in outputs
        )
        product = {"sku": f"P-{i % 50:03d}", "name": f"product {i % 50}", "image": "images/p.png"}
        jobs.append(
            JobRecord(
                key=f"{i:016x}",
                index=i,
                label=f"product=P-{i % 50:03d} market=m{i % 20} season=s{i % 4} #{i}",
                vars={"product": product, "market": f"m{i % 20}", "season": f"s{i % 4}"},
                image_kind="file",
                image_ref="images/p.png",
                image_path="/src/images/p.png",
                prompt_object={
                    "prompt": f"product {i % 50} on a table in season s{i % 4}, soft light",
                    "size": "1536x1024",
                    "n": 2,
                    "quality": "medium",
                    "output_format": "webp",
                    "output_compression": 85,
                },
                outputs=outputs,
                status="done",
                attempts=1,
                error=None,
                record_uuid=f"uuid-{i}",
                files=files,
                duration_s=12.5,
            )
        )
    return RunSnapshot(
        "big",
        "recipe.yaml",
        "run-1",
        "2024-05-01T14:03:00+00:00",
        None,
        "0.1.0",
        ("product", "market", "season"),
        None,
        None,
        0.0,
        tuple(jobs),
    )


def test_writes_from_elsewhere_are_refused(server: ReviewServer) -> None:
    body = {"job": "job-003", "action": "approve"}
    assert post(server, body, Origin="http://evil.example").status_code == 403
    assert post(server, body, Origin="null").status_code == 403
    no_origin = {TOKEN_HEADER: server.token}
    url = f"{server.base_url}/api/decision"
    assert httpx.post(url, json=body, headers=no_origin).status_code == 403
    assert post(server, body, **{TOKEN_HEADER: "guess"}).status_code == 403
    # A cross-site HTML form can only send form encodings, never JSON.
    ours = {"Origin": server.base_url, TOKEN_HEADER: server.token}
    form = httpx.post(url, data=body, headers=ours)
    assert form.status_code == 415
    assert post(server, body, Host="evil.example").status_code == 403
    assert not (server.output_dir / REVIEW_NAME).exists()
    assert post(server, body).status_code == 200
    assert load_review(server.output_dir).decision("job-003").status == "approved"


def test_decisions_are_checked_and_saved(server: ReviewServer) -> None:
    assert post(server, {"job": "nope", "action": "approve"}).status_code == 400
    assert post(server, {"job": "job-000", "action": "pick", "pick": 3}).status_code == 400
    assert post(server, {"job": "job-003", "action": "pick", "pick": 2}).status_code == 400
    single = post(server, {"job": "job-003", "action": "pick", "pick": 1})
    assert single.status_code == 200 and single.json()["pick"] is None  # n = 1: nothing to store
    assert post(server, {"job": "job-003", "action": "delete"}).status_code == 400
    too_long = post(server, {"job": "job-003", "action": "reject", "note": "x" * 2001})
    assert too_long.status_code == 400
    huge = post(server, {"job": "job-003", "action": "reject", "pad": "x" * 20_000})
    assert huge.status_code == 413
    nested = httpx.post(
        f"{server.base_url}/api/decision",
        content=b"[" * 15_000,
        headers={
            "Origin": server.base_url,
            TOKEN_HEADER: server.token,
            "Content-Type": "application/json",
        },
    )
    assert nested.status_code == 400
    assert post(server, {"job": "job-000", "action": "pick", "pick": 2}).status_code == 200
    answer = post(server, {"job": "job-000", "action": "reject", "note": " too dark "}).json()
    assert answer["status"] == "rejected" and answer["note"] == "too dark" and answer["pick"] == 2
    assert answer["counts"] == {"pending": 11, "approved": 0, "rejected": 1}
    shown = tuple(shown_images(server)["job-000"])
    assert len(shown) == 2
    assert load_review(server.output_dir).decision("job-000") == Decision(
        "rejected", 2, "too dark", sha256=shown
    )
    assert post(server, {"job": "job-000", "action": "pending"}).json()["note"] is None
    assert load_review(server.output_dir).decision("job-000") == Decision(pick=2)


def test_an_approval_is_made_on_the_images_shown_and_names_its_variant(
    server: ReviewServer,
) -> None:
    """Issue 15: never `approved` without a pick on n > 1, nor on images the page did not show."""
    shown = shown_images(server)
    # n = 2 and nothing picked: refused, nothing saved.
    refused = post(server, {"job": "job-000", "action": "approve"})
    assert refused.status_code == 409
    assert refused.json()["error"] == "pick the variant to deliver first (1 to 2), then approve"
    assert not (server.output_dir / REVIEW_NAME).exists()
    # Images other than the job's (the page was built before a run replaced them): refused.
    stale = post(server, {"job": "job-000", "action": "approve", "pick": 1, "images": ["0" * 64]})
    assert stale.status_code == 409 and "reload the page" in stale.json()["error"]
    missing = post(server, {"job": "job-000", "action": "approve", "pick": 1, "images": []})
    assert missing.status_code == 409
    assert not (server.output_dir / REVIEW_NAME).exists()
    # The variant in view, on the images shown: saved with both.
    answer = post(server, {"job": "job-000", "action": "approve", "pick": 2})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["pick"]) == ("approved", 2)
    assert load_review(server.output_dir).decision("job-000") == Decision(
        "approved", pick=2, sha256=tuple(shown["job-000"])
    )
    # A pick made first is the one approved.
    assert post(server, {"job": "job-000", "action": "pending"}).status_code == 200
    assert post(server, {"job": "job-000", "action": "pick", "pick": 1}).status_code == 200
    assert post(server, {"job": "job-000", "action": "approve"}).json()["pick"] == 1
    # One image: it is the pick; a failed job has none to approve.
    assert post(server, {"job": "job-003", "action": "approve"}).json()["pick"] is None
    assert load_review(server.output_dir).decision("job-003").sha256 == tuple(shown["job-003"])
    failed = post(server, {"job": "job-001", "action": "approve"})
    assert failed.status_code == 409 and "run the recipe" in failed.json()["error"]
    bad = post(server, {"job": "job-003", "action": "approve", "images": "x"})
    assert bad.status_code == 400


def test_an_image_replaced_since_the_page_was_built_is_not_shown(server: ReviewServer) -> None:
    first = next(job for job in page_jobs(server) if job["key"] == "job-000")
    url = first["variants"][0]["full"]
    assert url.startswith("/files/job-000-1.webp?") and "sha256=" in url
    full = server.base_url + url
    assert httpx.get(full).status_code == 200
    path = server.output_dir / "job-000-1.webp"
    kept = path.read_bytes()
    try:
        path.write_bytes((server.output_dir / "job-003.webp").read_bytes())
        answer = httpx.get(full)
        assert answer.status_code == 409 and "reload" in answer.json()["error"]
    finally:
        path.write_bytes(kept)


def test_files_are_served_only_from_inside_the_folder(server: ReviewServer) -> None:
    def get(path: str) -> int:
        return httpx.get(f"{server.base_url}/files/{path}?token={server.token}").status_code

    assert get("job-000-1.webp") == 200
    assert get("link-in.webp") == 200  # a symlink that stays inside
    assert get("link-out.png") == 404  # a symlink out
    assert get("%2e%2e/secret.png") == 404
    assert get("..%2fsecret.png") == 404
    assert get(f"{server.output_dir.parent}/secret.png".lstrip("/")) == 404
    assert get("notes.txt") == 404
    assert get(".backdrop/review.lock") == 404
    no_token = httpx.get(f"{server.base_url}/files/job-000-1.webp")
    assert no_token.status_code == 403


def test_the_page_shows_takes_history_and_orphans(
    folder: tuple[Path, RunSnapshot], server: ReviewServer
) -> None:
    out, _ = folder
    earlier = EarlierTake(1, "rejected", None, "wrong season")
    save_review(
        out,
        Review(
            {
                "job-004": Decision(take=2, history=(earlier,)),
                "gone/job": Decision("approved"),
            }
        ),
    )
    kept = out / take_path("job-004.webp", 1)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes((out / "job-004.webp").read_bytes())
    page = httpx.get(server.url).text
    assert "Decisions on jobs that are no longer in the run (1)" in page
    assert "<code>gone/job</code>" in page
    card = next(job for job in page_jobs(server) if job["key"] == "job-004")
    assert card["take"] == 2
    assert card["history"] == ["Take 1: rejected (wrong season)"]
    assert card["previous"] == [f"/files/.backdrop/takes/1/job-004.webp?token={server.token}"]


def test_two_pages_and_a_run_writing_at_once_lose_nothing(folder: tuple[Path, RunSnapshot]) -> None:
    out, snapshot = folder
    (out / REVIEW_NAME).unlink(missing_ok=True)
    writer = (
        "import sys\nfrom pathlib import Path\n"
        "from runner.review.decisions import set_decision\n"
        "for i in range(30):\n"
        "    set_decision(Path(sys.argv[1]), f'run/{i}', lambda d: d.next_take())\n"
    )
    jobs = [index for index in range(12) if index != 1]  # job-001 failed: nothing to approve
    with ReviewServer(out, lambda: snapshot) as left, ReviewServer(out, lambda: snapshot) as right:
        images = shown_images(left)
        run = subprocess.Popen([sys.executable, "-c", writer, str(out)])
        try:
            for round_ in range(3):
                for index in jobs:
                    page = left if index % 2 else right
                    action = "approve" if (index + round_) % 2 else "reject"
                    key = f"job-{index:03d}"
                    body = {"job": key, "action": action, "note": f"r{round_}", "pick": 1}
                    answer = post(page, {**body, "images": images[key]})
                    assert answer.status_code == 200, answer.text
        finally:
            assert run.wait(timeout=60) == 0
    decisions = load_review(out).decisions
    for index in jobs:
        expected = "approved" if (index + 2) % 2 else "rejected"
        assert decisions[f"job-{index:03d}"].status == expected
    assert all(decisions[f"run/{i}"].take == 2 for i in range(30))


# --- the command line ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output folder with a real state and lock (three jobs, not run yet)."""
    out = tmp_path_factory.mktemp("cli") / "out"
    with StateStore.open(out) as store:
        store.begin_run(statehelp.make_plan(out, 3), "run-1")
        store.finish_run("run-1")
    write_reports(StateStore.read_snapshot(out), out)
    save_review(out, Review({"summer/P1-0": Decision("approved"), "old/job": Decision()}))
    return out


def test_verify_reports_orphaned_decisions(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "verify", str(recorded))
    assert "review.yaml has 1 decision(s) on jobs that are no longer in the recipe" in result.err
    assert "  orphaned old/job\n" in result.err
    assert "summer/P1-0" not in result.err
    assert "old/job" in (recorded / REVIEW_NAME).read_text()


@posix_only("SIGINT to send to one child")
def test_review_command_prints_the_url_and_stops_on_ctrl_c(recorded: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "review", str(recorded), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        # Its approval is of no images (written by hand, before any run): shown as pending.
        assert lines[0] == f"Review of {recorded}: 3 jobs, 0 approved, 0 rejected, 3 pending.\n"
        url = lines[1].removeprefix("Open ").strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{20,}", url), url
        deadline = time.monotonic() + 20
        while True:  # the URL is printed just before uvicorn starts listening
            try:
                assert httpx.get(url).status_code == 200
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "orphaned old/job" in err and "Traceback" not in err
    assert "note: 1 approval(s) in review.yaml are not for the images in the folder" in err


def test_review_command_reports_a_hand_edit_mistake(
    recorded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = recorded.parent / "broken"
    broken.mkdir()
    for item in (recorded / ".backdrop").iterdir():
        if item.name.startswith("state"):
            (broken / ".backdrop").mkdir(exist_ok=True)
            (broken / ".backdrop" / item.name).write_bytes(item.read_bytes())
    (broken / REVIEW_NAME).write_text("version: 1\njobs:\n  a:\n    status: done\n")
    monkeypatch.chdir(broken)
    result = run_cli(capsys, "review", ".", "--no-browser")
    assert result.code == 2
    assert result.err.startswith(
        "review.yaml:4:13: error: jobs.a.status: 'done' is not one of pending, approved, rejected"
    )


def test_the_page_of_a_real_run_on_the_emulator(tmp_path: Path) -> None:
    from runner.emulator.config import EmulatorConfig
    from runner.emulator.server import EmulatorServer
    from tests import runhelp

    plan = runhelp.make_plan(tmp_path, products=("MUG",), seasons=("spring", "winter"), n=2)
    with EmulatorServer(EmulatorConfig(seed=3)) as emulator:
        runhelp.run(plan, emulator)
    out = plan.output_dir
    write_reports(StateStore.read_snapshot(out), out)  # thumbnails, as after every run
    with ReviewServer(out, lambda: StateStore.read_snapshot(out)) as server:
        cards = page_jobs(server)
        keys = [card["key"] for card in cards]
        assert (
            keys == [review_key(job.outputs) for job in plan.jobs] == ["spring/MUG", "winter/MUG"]
        )
        images = [variant["src"] for card in cards for variant in card["variants"]]
        assert len(images) == 4 and all(".backdrop/thumbs/" in url for url in images)
        for url in images:
            answer = httpx.get(server.base_url + url)
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
        assert post(server, {"job": "winter/MUG", "action": "pick", "pick": 2}).status_code == 200
    assert load_review(out).decision("winter/MUG") == Decision(pick=2)


def test_review_on_a_taken_port_says_so(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli(capsys, "review", str(recorded), "--port", str(port), "--no-browser")
    assert result.code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.err
    assert "hint: choose another --port, or leave it out to pick a free one" in result.err


def test_verify_reports_a_hand_edit_mistake_in_review_yaml(
    recorded: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    copy = recorded.parent / "verify-broken"
    shutil.copytree(recorded, copy)
    (copy / REVIEW_NAME).write_text("version: 1\njobs:\n  summer/P1-0:\n    status: aproved\n")
    monkeypatch.chdir(copy)
    result = run_cli(capsys, "verify", ".")
    assert result.code == 2
    assert "review.yaml:4:13: error: jobs.summer/P1-0.status: 'aproved' is not one of" in result.err
    assert "(did you mean 'approved'?)" in result.err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xdg-open is Linux's")
def test_review_opens_the_page_without_xdg_opens_complaints(recorded: Path, tmp_path: Path) -> None:
    """A server over SSH has no browser: xdg-open prints a dozen lines of its own; the user
    sees backdrop's lines only, and the page is still asked for at the printed address."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    fake = bin_dir / "xdg-open"
    fake.write_text(
        f'#!/bin/sh\necho "$1" > {opened}\n'
        'echo "xdg-open: no method available for opening $1" >&2\nexit 3\n'
    )
    fake.chmod(0o755)
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "review", str(recorded)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    try:
        assert process.stdout is not None
        url = [process.stdout.readline() for _ in range(2)][1].removeprefix("Open ").strip()
        deadline = time.monotonic() + 20
        while not opened.exists() or not opened.read_text():
            assert time.monotonic() < deadline, "xdg-open was never run"
            time.sleep(0.05)
        # Ctrl-C once the page is served (a Ctrl-C while the server starts is another test's).
        while True:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the page was never served"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert opened.read_text().strip() == url
    assert "xdg-open" not in err and "no method available" not in err, err
