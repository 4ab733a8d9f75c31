"""Time and peak memory of `validate` / `plan` on recipes whose templates are resource bombs.

Each case runs `python -m runner` in its own process, under a 2 GiB address-space limit and a
timeout (so that a guard that is missing cannot take the machine down), and reports the wall
time, the child's peak RSS (wait4) and its exit code (2 = a diagnostic, 70 = internal error).

Run: .venv/bin/python bench/bench_template_bombs.py [--timeout 60]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import zlib
from pathlib import Path

from limited_child import run_limited  # beside this script: on sys.path when it runs

BIG = "['x' * 99999] * 99999"
# name -> (command, template); `validate*` cases add a schema error so the static pass runs.
CASES: dict[str, tuple[str, str]] = {
    "print a list of long text": ("plan", "{{ " + BIG + " }}"),
    "| tojson": ("plan", "{{ (" + BIG + ")|tojson }}"),
    "~ ''": ("plan", "{{ (" + BIG + ") ~ '' }}"),
    "'%s' %": ("plan", "{{ '%s' % (" + BIG + ",) }}"),
    ".format": ("plan", "{{ '{}'.format(" + BIG + ") }}"),
    "| string": ("plan", "{{ (" + BIG + ")|string }}"),
    "| pprint": ("plan", "{{ (" + BIG + ")|pprint }}"),
    "range(99999)|map('center', 99999)|list": (
        "plan",
        "{{ range(99999)|map('center', 99999)|list|length }}",
    ),
    "2 nested for over range(99999)": (
        "plan",
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
    ),
    "3 nested for over range(99999)": (
        "plan",
        "{% for a in range(99999) %}{% for b in range(99999) %}{% for c in range(99999) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
    ),
    "macro calling itself twice, 40 deep": (
        "plan",
        "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
        "{{ m(40) }}",
    ),
    "static pass: 'a' * 10**9 beside a schema error": ("validate*", "{{ 'a' * 10**9 }}"),
    "static pass: 2 nested for beside a schema error": (
        "validate*",
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
    ),
    "20 include entries, each a 2-deep loop": (
        "plan+include",
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
    ),
    "plain recipe (baseline)": ("plan", "{{ season }} light"),
}


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xc8\x1e\x1e" * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    ihdr, idat = chunk(b"IHDR", header), chunk(b"IDAT", zlib.compress(raw))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + chunk(b"IEND", b"")


def write_recipe(folder: Path, template: str, *, schema_error: bool, includes: int = 0) -> Path:
    """4 jobs with `template` in the prompt; or `includes` jobs, each with its own template."""
    (folder / "mug.png").write_bytes(tiny_png())
    quality = "hgih" if schema_error else "medium"
    prompt = "a mug, " + template
    matrix = "  season: [spring, summer, autumn, winter]\n"
    if includes:
        prompt = "a mug, {{ season }}"
        matrix = f"  season: {list(range(includes))}\n  include:\n" + "".join(
            f"    - {{ season: {i}, quality: {json.dumps(template + f'{i}')} }}\n"
            for i in range(includes)
        )
    text = (
        "version: 1\nname: bomb\n"
        f"defaults:\n  quality: {quality}\n"
        f"matrix:\n{matrix}"
        "image: mug.png\n"
        f"prompt: {json.dumps(prompt)}\n"
        "output: mug-{{ season }}\n"
    )
    path = folder / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_case(command: str, template: str, timeout: float) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        schema_error = command.endswith("*")
        includes = 20 if command.endswith("+include") else 0
        recipe = write_recipe(Path(tmp), template, schema_error=schema_error, includes=includes)
        name = command.rstrip("*").removesuffix("+include")
        argv = [sys.executable, "-m", "runner", name, str(recipe)]
        wall, _, rss_mib, outcome = run_limited(argv, timeout)
        return wall, rss_mib, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    print("| case | command | wall s | peak RSS MiB | outcome |")
    print("|---|---|---:|---:|---|")
    for name, (command, template) in CASES.items():
        wall, rss, outcome = run_case(command, template, args.timeout)
        shown = "validate (schema error)" if command.endswith("*") else command.replace("+", " ")
        name = name.replace("|", "\\|")
        print(f"| {name} | {shown} | {wall:.2f} | {rss:.0f} | {outcome} |", flush=True)


if __name__ == "__main__":
    main()
