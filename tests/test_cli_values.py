"""What the CLI takes and prints: finite numbers only, recipe text that cannot drive the terminal,
verify given a recipe, and the CSV separator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest

from runner.cli import cli
from runner.commands.common import FiniteFloat
from runner.diagnostics import Diagnostic, Span
from runner.printable import json_printable, one_line, printable
from tests.clihelp import run_cli
from tests.platforms import posix_only

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
FAST = ("--rpm", "60000")
# A window title (OSC), a screen clear, a colour, a one-byte CSI and a right-to-left override.
HOSTILE = ("\x1b]0;pwned\x07", "\x1b[2J", "\x1b[31m", "\x9b", "\u202e")
SHOWN = ("\\x1b]0;pwned\\x07", "\\x1b[2J", "\\x1b[31m", "\\x9b", "\\u202e")


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "campaign"
    shutil.copytree(EXAMPLE, folder)
    recipe = folder / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("size: 1536x1024", "size: 1024x1024"))
    monkeypatch.chdir(tmp_path)
    return folder


def _float_options() -> list[tuple[str, click.Option]]:
    found = []
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(
                param.type, click.types.FloatParamType
            ):
                found.append((name, param))
    return found


def test_every_float_option_refuses_nan_and_infinity() -> None:
    options = _float_options()
    assert {opt.opts[0] for _, opt in options} >= {"--rpm", "--timeout", "--confirm-over"}
    for command, option in options:
        assert isinstance(option.type, FiniteFloat), f"{command} {option.opts[0]}"


@pytest.mark.parametrize("option", ["--rpm", "--timeout", "--confirm-over"])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_a_non_finite_number_is_a_usage_error(campaign, capsys, option, value) -> None:
    result = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "--emulate", option, value)
    assert result.code == 2
    assert f"Invalid value for '{option}': '{value}' is not a finite number" in result.err
    assert not (campaign / "out").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--latency", "nan"),
        ("--latency", "0.1-inf"),
        ("--error-rate", "nan"),
        ("--refusal-delay", "nan"),
        ("--refusal-delay", "soon"),
        ("--transfer-latency", "0.01-inf"),
    ],
)
def test_emulator_options_refuse_non_finite_numbers(capsys, option, value) -> None:
    result = run_cli(capsys, "emulator", "--port", "0", option, value)
    assert result.code == 2 and "error:" in result.err, result.err


def test_printable_writes_control_characters_out() -> None:
    assert printable("a\x1b[2Jb\n\tc\r") == "a\\x1b[2Jb\n\tc\\x0d"
    assert one_line("a\nb") == "a\\x0ab"
    for raw, shown in zip(HOSTILE, SHOWN, strict=True):
        assert printable(raw) == shown
    text = json.dumps({"v": "".join(HOSTILE)}, ensure_ascii=False)
    assert json.loads(json_printable(text)) == {"v": "".join(HOSTILE)}
    assert not any(raw in json_printable(text) for raw in ("\x1b", "\x9b", "\u202e"))


def test_a_caret_stays_under_its_text_once_controls_are_written_out() -> None:
    line = 'season: "\x1b[2Jwinter"'
    span = Span("r.yaml", 1, 9, 21, line)  # the quoted value
    rendered = Diagnostic("bad value", span=span).render().splitlines()
    assert rendered[1] == '    1 | season: "\\x1b[2Jwinter"'
    assert rendered[2] == "      | " + " " * len("season: ") + "^" * len('"\\x1b[2Jwinter"')


def _hostile_recipe(folder: Path) -> Path:
    """The example with YAML escapes that become raw control characters in the values."""
    recipe = folder / "spring-campaign.yaml"
    text = recipe.read_text(encoding="utf-8")
    text = text.replace(
        "season: [spring, summer, autumn, winter]",
        # winter stays: the recipe's `exclude` names it, and an exclude matching nothing is an error
        'season: ["\\e]0;pwned\\a\\e[2Jautumn\\u202e", spring, winter]',
    )
    text = text.replace('{{ season }}"', '{{ season | slug }}"')
    text = text.replace("brand: Acme Home", 'brand: "Acme \\e[31m\\x9bHome"')
    recipe.write_text(text, encoding="utf-8")
    return recipe


def _assert_inert(text: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in text, repr(raw)


def test_validate_plan_and_run_never_print_control_characters(campaign, capsys) -> None:
    recipe = str(_hostile_recipe(campaign).relative_to(campaign.parent))
    # The YAML escapes reach the values: the recipe really carries the raw characters.
    plan_json = run_cli(capsys, "plan", recipe, "--json")
    assert plan_json.code == 0, plan_json.err
    _assert_inert(plan_json.out)
    jobs = json.loads(plan_json.out)["jobs"]
    assert any(job["vars"]["season"].startswith(HOSTILE[0] + HOSTILE[1]) for job in jobs)

    shown = run_cli(capsys, "plan", recipe, "--all")
    assert shown.code == 0, shown.err
    _assert_inert(shown.out + shown.err)
    assert "\\x1b]0;pwned\\x07" in shown.out

    valid = run_cli(capsys, "validate", recipe)
    assert valid.code == 0
    _assert_inert(valid.out + valid.err)

    refused = run_cli(capsys, "run", recipe, "--emulate", "--only", "season=none")
    assert refused.code == 2
    _assert_inert(refused.err)
    assert "\\x1b[2J" in refused.err  # the known values, written out

    ran = run_cli(capsys, "run", recipe, "--emulate", "-y", "--limit", "6", *FAST)
    assert ran.code == 0, ran.err
    _assert_inert(ran.out + ran.err)
    assert "season=\\x1b]0;pwned" in ran.out


def test_a_diagnostic_quoting_a_hostile_line_is_inert(campaign, capsys) -> None:
    recipe = campaign / "spring-campaign.yaml"
    text = recipe.read_text().replace("quality: medium", 'quality: "\\e]0;pwned\\amedium"')
    recipe.write_text(text, encoding="utf-8")
    result = run_cli(capsys, "validate", "campaign/spring-campaign.yaml")
    assert result.code == 2
    _assert_inert(result.err)
    assert "\\x1b]0;pwned\\x07medium" in result.err
    assert "Traceback" not in result.err


def test_verify_takes_a_recipe_and_checks_its_output_folder(campaign, capsys) -> None:
    ran = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "--emulate", "-y", "--limit", "1")
    assert ran.code == 0, ran.err
    ok = run_cli(capsys, "verify", "campaign/spring-campaign.yaml")
    assert ok.code == 0, ok.err
    assert "ok: every file matches backdrop.lock" in ok.out
    (campaign / "out" / "spring-campaign" / "fr-FR" / "MUG-01-spring.webp").unlink()
    missing = run_cli(capsys, "verify", "campaign/spring-campaign.yaml")
    assert missing.code == 1
    assert "missing  fr-FR/MUG-01-spring.webp" in missing.out


@pytest.mark.parametrize("command", [["review", "--no-browser"], ["export", "--to", "delivery"]])
def test_review_and_export_take_a_recipe_like_verify(campaign, capsys, command) -> None:
    # No run yet: the recipe resolves to its output folder, which has none.
    result = run_cli(capsys, command[0], "campaign/spring-campaign.yaml", *command[1:])
    assert result.code == 2
    assert "is a file" not in result.err
    assert "error: no run recorded in " in result.err
    assert str(Path("campaign", "out", "spring-campaign")) in result.err


def test_verify_given_another_file_says_what_to_pass(campaign, capsys) -> None:
    result = run_cli(capsys, "verify", "campaign/images/mug.png")
    assert result.code == 2
    assert "'campaign/images/mug.png' is a file, neither an output folder nor a recipe" in (
        result.err
    )
    assert "backdrop verify spring-campaign.yaml" in result.err
    assert "is a file." not in result.err  # click's "Directory '...' is a file." is gone


def test_verify_of_a_folder_that_does_not_exist_says_so(campaign, capsys) -> None:
    result = run_cli(capsys, "verify", "nope")
    assert result.code == 2
    assert "error: the folder nope does not exist" in result.err
    assert "backdrop.lock in" not in result.err  # not "no backdrop.lock in nope"
    recipe = run_cli(capsys, "verify", "nope.yaml")
    assert "error: the recipe nope.yaml does not exist" in recipe.err


@pytest.mark.parametrize(
    "where",
    [pytest.param("/dev/null", marks=posix_only("/dev/null")), "campaign/spring-campaign.yaml/out"],
)
@pytest.mark.parametrize("command", ["run", "plan"])
def test_an_output_folder_that_is_not_a_folder_is_said_so(campaign, capsys, command, where):
    extra = ["--emulate", "-y"] if command == "run" else []
    result = run_cli(capsys, command, "campaign/spring-campaign.yaml", "-o", where, *extra)
    assert result.code == 2
    blocker = "it is not" if where == "/dev/null" else "campaign/spring-campaign.yaml is not"
    assert f"error: --output-dir: {where} cannot be the output folder: {blocker} a folder" in (
        result.err
    )
    assert "review.yaml" not in result.err  # not "/dev/null/review.yaml: cannot be read"


def test_an_output_dir_in_the_recipe_under_a_file_points_at_the_key(campaign, capsys) -> None:
    recipe = campaign / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text() + "output_dir: spring-campaign.yaml/out\n")
    result = run_cli(capsys, "plan", "campaign/spring-campaign.yaml")
    assert result.code == 2
    assert "cannot be the output folder: campaign/spring-campaign.yaml is not a folder" in (
        result.err
    )
    assert "spring-campaign.yaml:28:13: error: output_dir:" in result.err


def test_report_writes_results_csv_with_semicolons(campaign, capsys) -> None:
    ran = run_cli(capsys, "run", "campaign/spring-campaign.yaml", "--emulate", "-y", "--limit", "1")
    assert ran.code == 0, ran.err
    out = campaign / "out" / "spring-campaign"
    header = (out / "results.csv").read_bytes().decode("utf-8-sig").splitlines()[0]
    assert header.startswith("job_key,label,status,")
    again = run_cli(capsys, "report", str(out), "--csv-separator", ";")
    assert again.code == 0, again.err
    header = (out / "results.csv").read_bytes().decode("utf-8-sig").splitlines()[0]
    assert header.startswith("job_key;label;status;")
