"""Time and peak memory of `plan --diff` and `verify` on files a pull request can commit.

Builds a small project in a temporary folder (a 4-job recipe, its output folder as a fresh clone
has it: backdrop.lock and the images, no .backdrop/), then for each case replaces one file of
the output folder with a hostile one: review.yaml with thousands of mistakes or 45 MB of them,
a backdrop.lock nested 100,000 levels deep, with a 5,000-digit number, a NUL in a path, 1,000
entries naming one 20 MB file (or 1,000 links to it), a 3 GiB sparse lock, an output that is a
FIFO, and a 31 MB lock of 90,000 outputs (just under the cap).

Each command runs `python -m runner` in its own process under a 2 GiB address-space limit and a
timeout, and reports the wall time, the child's CPU time and peak RSS (wait4) and its exit code
(2 or 3: a message for the user; 70: an internal error; timeout: killed). On a shared machine
the CPU time is the figure to read: the wall time grows with the load.

Run: .venv/bin/python bench/bench_untrusted.py [--timeout 60] [--only NAME]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_template_bombs import tiny_png
from limited_child import run_limited

RECIPE = """\
version: 1
name: camp
defaults: { size: 1024x1024, quality: low, n: 1, output_format: png }
matrix:
  season: [spring, summer, autumn, winter]
image: mug.png
prompt: "a mug in {{ season }}"
output: "{{ season }}/mug"
"""
OUT = Path("out") / "camp"


def make_project(root: Path) -> None:
    """The recipe, its image, and out/camp/ with a lock whose four images are on disk."""
    from runner.commands.common import load_plan
    from runner.plan.fingerprints import request_fingerprints
    from runner.records.lockfile import LockEntry, LockFile, render_lock

    (root / ".git").mkdir(parents=True)
    (root / "mug.png").write_bytes(tiny_png())
    (root / "recipe.yaml").write_text(RECIPE)
    plan = load_plan(str(root / "recipe.yaml"))
    entries = []
    for job in plan.jobs:
        image = tiny_png() + job.key.encode()  # distinct bytes per job
        target = root / OUT / job.outputs[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image)
        fingerprints = request_fingerprints(
            job.prompt_object.to_json(), f"{job.image.kind}:{job.image.ref}", job.take
        )
        entries.append(
            LockEntry(job.outputs[0], job.key, hashlib.sha256(image).hexdigest(), fingerprints)
        )
    lock = LockFile("camp", tuple(sorted(entries, key=lambda entry: entry.path)))
    (root / OUT / "backdrop.lock").write_text(render_lock(lock))


def review_with_mistakes(count: int) -> Callable[[Path], None]:
    def write(out: Path) -> None:
        lines = ["version: 1", "jobs:"]
        for i in range(count):
            lines += [f"  m/job-{i}:", "    status: approved", "    colour: red"]
        (out / "review.yaml").write_text("\n".join(lines) + "\n")

    return write


def review_of(megabytes: float) -> Callable[[Path], None]:
    def write(out: Path) -> None:
        with (out / "review.yaml").open("w") as handle:
            handle.write("version: 1\njobs:\n")
            entry = "  m/job-{}:\n    status: maybe\n"
            written, i = 0, 0
            while written < megabytes * 1024 * 1024:
                written += handle.write(entry.format(i))
                i += 1

    return write


def lock_text(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "backdrop.lock").read_text())
    return data


def nested_lock(out: Path) -> None:
    data = lock_text(out)
    text = json.dumps(data)[:-1] + ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (out / "backdrop.lock").write_text(text)


def long_number_lock(out: Path) -> None:
    text = (out / "backdrop.lock").read_text().replace('"format": 2', '"format": ' + "9" * 5000)
    (out / "backdrop.lock").write_text(text)


def nul_path_lock(out: Path) -> None:
    text = (out / "backdrop.lock").read_text().replace("spring/mug.png", "spring/mug\\u0000.png")
    (out / "backdrop.lock").write_text(text)


def one_file_1000_times(out: Path) -> None:
    data = lock_text(out)
    big = os.urandom(20 * 1024 * 1024)
    (out / "big.png").write_bytes(big)
    sha = hashlib.sha256(big).hexdigest()
    first = data["outputs"][0]  # type: ignore[index]
    data["outputs"] = [{**first, "path": "big.png", "sha256": sha} for _ in range(1000)]
    (out / "backdrop.lock").write_text(json.dumps(data))


def links_to_one_file(out: Path) -> None:
    data = lock_text(out)
    big = os.urandom(20 * 1024 * 1024)
    (out / "big.png").write_bytes(big)
    sha = hashlib.sha256(big).hexdigest()
    first = data["outputs"][0]  # type: ignore[index]
    rows = []
    for i in range(1000):
        (out / f"link-{i:04d}.png").symlink_to("big.png")
        rows.append({**first, "path": f"link-{i:04d}.png", "sha256": sha})
    data["outputs"] = [*data["outputs"], *rows]  # type: ignore[misc]
    (out / "backdrop.lock").write_text(json.dumps(data))


def sparse_lock(out: Path) -> None:
    lock = out / "backdrop.lock"
    lock.unlink()
    with lock.open("wb") as handle:
        handle.truncate(3 * 1024**3)


def fifo_output(out: Path) -> None:
    target = out / "spring" / "mug.png"
    target.unlink()
    os.mkfifo(target)


def lock_of_31_mb(out: Path) -> None:
    data = lock_text(out)
    first = data["outputs"][0]  # type: ignore[index]
    rows: list[dict[str, object]] = []
    size = 0
    while size < 31 * 1024 * 1024:
        row = {**first, "path": f"m/{len(rows):07d}.png", "job": f"{len(rows):016x}"}
        rows.append(row)
        size += len(json.dumps(row)) + 6  # one output a line, as backdrop writes them
    data["outputs"] = []
    head = json.dumps(data, indent=2).replace('"outputs": []', '"outputs": [')
    body = ",\n".join("    " + json.dumps(row) for row in rows)
    (out / "backdrop.lock").write_text(head.removesuffix("\n}") + "\n" + body + "\n  ]\n}\n")


CASES: dict[str, Callable[[Path], None]] = {
    "review.yaml, 2,000 mistakes": review_with_mistakes(2_000),
    "review.yaml, 8,000 mistakes": review_with_mistakes(8_000),
    "review.yaml, 16,000 mistakes": review_with_mistakes(16_000),
    "review.yaml of 3.9 MB (under the cap), every entry wrong": review_of(3.9),
    "review.yaml of 7.9 MB, every entry wrong": review_of(7.9),
    "review.yaml of 45 MB, every entry wrong": review_of(45),
    "lock nested 100,000 deep": nested_lock,
    "lock with a 5,000-digit format": long_number_lock,
    "lock with a NUL in a path": nul_path_lock,
    "lock: 1,000 entries naming one 20 MB file": one_file_1000_times,
    "lock: 1,000 links to one 20 MB file": links_to_one_file,
    "lock: a 3 GiB sparse file": sparse_lock,
    "lock: an output that is a FIFO": fifo_output,
    "lock of 31 MB (under the cap), 90,000 outputs": lock_of_31_mb,
}
COMMANDS = {
    "plan --diff": ["plan", "recipe.yaml", "--diff"],
    "verify": ["verify", str(OUT)],
}


def run_command(root: Path, argv: list[str], timeout: float) -> tuple[float, float, float, str]:
    return run_limited([sys.executable, "-m", "runner", *argv], timeout, cwd=root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    print("| case | command | wall s | CPU s | peak RSS MiB | outcome |")
    print("|---|---|---:|---:|---:|---|")
    for name, make in CASES.items():
        if args.only and args.only not in name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root)
            make(root / OUT)
            for command, argv in COMMANDS.items():
                wall, cpu, rss, outcome = run_command(root, argv, args.timeout)
                print(
                    f"| {name} | {command} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {outcome} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
