"""A key that cannot go into an HTTP header is refused once, up front, and never shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.apikey import MASK, redact
from tests.clihelp import run_cli

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
NEWLINE_KEY = "sk-live-ABCDEFGH\n12345678"


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "campaign")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "campaign" / "spring-campaign.yaml"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (NEWLINE_KEY, "contains a line break (character 17 of 25)"),
        ("sk-live-ÄBCDEFGH12345678", "contains a character that is not plain ASCII (character 9)"),
        ("sk-live-ABCD EFGH12345678", "contains a space or control character (character 13)"),
    ],
)
def test_a_key_unfit_for_a_header_is_refused_before_anything_runs(
    campaign, capsys, monkeypatch, key, problem
):
    monkeypatch.setenv("ONEMIN_API_KEY", key)
    urls = ("--api-url", "http://127.0.0.1:9", "--asset-url", "http://127.0.0.1:9")
    result = run_cli(capsys, "run", str(campaign), "-y", "--limit", "2", *urls)
    assert result.code == 2
    assert f"error: the API key in ONEMIN_API_KEY {problem}" in result.err
    shown = result.out + result.err
    for part in ("ABCDEFGH", "12345678", "EFGH1234"):
        assert part not in shown
    assert not (campaign.parent / "out").exists()  # nothing was started


def test_every_form_of_the_key_is_redacted(monkeypatch):
    monkeypatch.setenv("ONEMIN_API_KEY", NEWLINE_KEY)
    header = f"Illegal header value {NEWLINE_KEY.encode()!r}"
    for text in (NEWLINE_KEY, repr(NEWLINE_KEY), header, f"key={NEWLINE_KEY!r}"):
        redacted = redact(text)
        assert "ABCDEFGH" not in redacted and "12345678" not in redacted, redacted
        assert MASK in redacted
