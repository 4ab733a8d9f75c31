"""Every command pays Python's start-up and its imports before any work; only what it uses is
imported. One child runs the real entry point six times, from the lightest command to `plan` and
a `run` that stops at its missing key, and reports the modules loaded after each (the counts only
grow, so what `plan` leaves out, `validate` and `--help` leave out too). bench/bench_startup.py
times the same commands.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "recipes/spring-campaign.yaml"

CHILD = """
import contextlib, io, json, sys
from runner.cli import main
loaded = {}
for args in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(args)
    loaded[" ".join(args)] = sorted(sys.modules)
print(json.dumps(loaded))
"""
NO_CSV = """\
version: 1
name: no-csv
defaults: {size: 1024x1024, quality: low, output_format: png}
matrix:
  season: [a, b, c]
image: images/mug.png
prompt: "a mug in season {{ season }}"
output: "{{ season }}/mug"
"""


@pytest.fixture(scope="module")
def no_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A recipe whose axes are all in the recipe: no CSV file to read."""
    folder = tmp_path_factory.mktemp("no-csv")
    (folder / "images").mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "example" / "images" / "mug.png", folder / "images")
    (folder / "recipe.yaml").write_text(NO_CSV)
    return str(folder / "recipe.yaml")


@pytest.fixture(scope="module")
def loaded(no_csv: str) -> dict[str, set[str]]:
    commands = [["--version"], ["--help"], ["validate", no_csv], ["validate", RECIPE]]
    commands.append(["plan", RECIPE])
    commands.append(["run", no_csv])  # no key: it stops once the run's code is imported
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(commands)],
        cwd=ROOT,
        env={name: value for name, value in os.environ.items() if not name.startswith("ONEMIN_")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = {command: set(names) for command, names in json.loads(done.stdout).items()}
    assert len(found) == len(commands)
    return found


def _present(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules]


def test_help_and_version_load_no_recipe_code(loaded):
    heavy = ("yaml", "jsonschema", "jinja2", "PIL", "httpx", "rich", "runner.fileio", "runner.plan")
    assert _present(loaded["--version"], heavy) == []
    assert _present(loaded["--help"], heavy) == []


def test_a_recipe_without_a_csv_axis_loads_no_csv_reader(loaded, no_csv):
    modules = loaded[f"validate {no_csv}"]
    assert _present(modules, ("yaml", "jsonschema", "jinja2", "PIL.Image")) == [
        "yaml", "jsonschema", "jinja2", "PIL.Image",
    ]  # fmt: skip
    assert _present(modules, ("runner.plan.csvfile", "runner.plan.encodings")) == []
    assert "runner.plan.csvfile" in loaded[f"validate {RECIPE}"]  # the example's markets.csv


def test_validate_loads_what_checks_a_recipe_and_no_more(loaded):
    modules = loaded[f"validate {RECIPE}"]
    # What validate is: the YAML, the schema, the templates, the images and the CSV axis.
    assert _present(modules, ("yaml", "jsonschema", "jinja2", "PIL.Image")) == [
        "yaml", "jsonschema", "jinja2", "PIL.Image",
    ]  # fmt: skip
    assert _present(modules, ("runner.records.state", "sqlite3", "rich")) == []


def test_plan_reads_the_state_without_loading_the_client_or_the_event_loop(loaded):
    modules = loaded[f"plan {RECIPE}"]
    assert "runner.records.state" in modules  # it does look at the folder's records
    assert _present(modules, ("httpx", "runner.api.client", "asyncio", "ssl")) == []


def test_a_run_loads_the_client_but_not_httpxs_own_command_line(loaded, no_csv):
    modules = loaded[f"run {no_csv}"]
    assert _present(modules, ("runner.api.client", "httpx", "asyncio")) == [
        "runner.api.client", "httpx", "asyncio",
    ]  # fmt: skip
    # httpx's package imports its command-line client (rich's progress bars and syntax colouring,
    # pygments) unless told not to; the live display imports rich.progress on a terminal only.
    assert _present(modules, ("rich.progress", "rich.syntax", "pygments")) == []
