"""report.html: content, escaping and links, checked by parsing the written page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from runner.report.writer import write_reports
from tests.report_snapshots import SCRIPT, build_snapshot, campaign_specs, make_sources


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture
def written(tmp_path: Path):
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    paths = write_reports(snapshot, out)
    source = paths.html.read_text(encoding="utf-8")
    page = Page()
    page.feed(source)
    return snapshot, out, source, page


def test_planted_script_stays_text(written) -> None:
    _, _, source, page = written
    assert SCRIPT not in source  # never raw
    assert len(page.all("script")) == 1  # only the page's own filter script
    text = "".join(page.text)
    assert "summer " + SCRIPT in text  # the matrix value, shown as text
    assert "mug " + SCRIPT in text  # the prompt, shown as text
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)


def test_failed_job_is_a_red_cell_with_the_api_message(written) -> None:
    _, _, source, page = written
    failed = [a for a in page.all("div") if a.get("data-status") == "failed"]
    assert len(failed) == 1 and "failed" in (failed[0]["class"] or "")
    assert "safety system &lt;b&gt;&#34;policy&#34;&lt;/b&gt; &amp; more" in source
    assert 'The prompt was rejected by the safety system <b>"policy"</b> & more' in page.text


def test_every_image_of_a_job_is_shown_and_linked(written) -> None:
    snapshot, out, _, page = written
    links = {unquote(a["href"] or "") for a in page.all("a")}
    for job in snapshot.jobs:
        for record in job.files:
            assert record.path in links
    assert {"job-000-1.webp", "job-000-2.webp"} <= links  # n = 2
    for attrs in page.all("img"):
        src = attrs["src"] or ""
        assert not src.startswith(("http:", "https:", "//"))  # no network
        assert (out / unquote(src)).is_file()
        assert attrs.get("alt")
    lazy = [a for a in page.all("img") if a.get("loading") == "lazy"]
    assert len(lazy) == sum(len(job.files) for job in snapshot.jobs)
    assert not page.all("link")  # no external stylesheets or fonts


def test_source_image_sits_beside_its_results(written, tmp_path: Path) -> None:
    _, out, _, page = written
    originals = [a for a in page.all("img") if a.get("alt") == "Original image"]
    assert len(originals) == 2  # one grid per source image
    hrefs = {unquote(a["href"] or "") for a in page.all("a")}
    assert "../src/mug.png" in hrefs and "../src/tote.jpg" in hrefs
    assert (out / "../src/mug.png").resolve() == (tmp_path / "src" / "mug.png").resolve()


def test_header_gives_totals_cost_recipe_and_the_latest_generation(written) -> None:
    _, _, _, page = written
    text = " ".join(page.text)
    assert "12 jobs" in text and "11 done" in text and "1 failed" in text
    assert "skipped" not in text and "took" not in text  # a run's doings, not the folder's
    # 12 images at $0.063, the one done by an earlier run included.
    assert "estimated cost so far $0.76 (list prices, not a bill)" in text
    assert "maybe charged" not in text
    assert "Last generated 2024-05-01 14:03 UTC" in text
    assert "spring-campaign" in text


def test_unicode_values_are_kept(written) -> None:
    _, _, _, page = written
    text = "".join(page.text)
    for value in ("été 🌞", "日本語のプロンプト", "café crème 🎉", "京都の庭"):
        assert value in text


def test_filters_list_every_status_and_axis_value(written) -> None:
    _, _, _, page = written
    rows = [a for a in page.all("div") if a.get("data-filter")]
    assert [r["data-filter"] for r in rows] == ["status", "axis", "axis", "axis"]
    statuses = [a.get("data-value") for a in page.all("button")][:3]
    assert statuses == ["all", "done", "failed"]
    text = "".join(page.text)
    assert "season" in text and "@SUM(1+1)*cmd|' /C calc'!A0" in text


def test_csp_allows_only_the_page_own_script(written) -> None:
    _, _, _, page = written
    csp = next(a for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy")
    policy = csp["content"] or ""
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert "unsafe-inline" not in policy


def test_a_missing_output_file_is_a_placeholder_not_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    (out / "job-003.webp").unlink()
    (out / "job-004.webp").write_bytes(b"not an image")
    paths = write_reports(snapshot, out)
    assert paths.html.read_text(encoding="utf-8").count("image missing") == 2


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("fr-FR/MUG-01 spring.webp", "fr-FR/MUG-01%20spring.webp"),
        ("a/#1?.png", "a/%231%3F.png"),
        ("javascript:alert(1).png", "javascript%3Aalert%281%29.png"),
        ('x"><img src=y>.png', "x%22%3E%3Cimg%20src%3Dy%3E.png"),
        ("../shard-2/été.png", "../shard-2/%C3%A9t%C3%A9.png"),
    ],
)
def test_links_are_percent_encoded_relative_paths(path: str, expected: str) -> None:
    from runner.report.html import href

    assert href(path) == expected
