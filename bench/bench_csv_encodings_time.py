"""How long a user waits for Backdrop to decide a legacy CSV file's code page (CPU seconds).

1 MB files: a language's long file (bench/csv_corpus.py) repeated, in its code page; the
French and Russian ones also at 20 MB. Then the 20 MB files of
tests/test_csv_encodings_at_scale.py: a GBK file that is decided, and three that are refused
(two million Cyrillic words, one 20-million-letter word, "5…" ten million times). Each is read
with `read_csv_table` (decoding and parsing), best of 3.

Run: .venv/bin/python bench/bench_csv_encodings_time.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from csv_corpus import CORPUS, csv_text, encode_as_excel

from runner.plan.csvfile import read_csv_table

ONE_MB = ("Turkish", "Russian", "French", "Japanese", "Thai")
SETTING = "一个放在木桌上的白色陶瓷杯子，柔和的自然光，" * 90


def twenty_mb() -> dict[str, Callable[[], bytes]]:
    head = b"code,setting\r\nx,"
    return {
        "GBK, decided": lambda: (
            "code,setting\r\n" + "".join(f"c{i},{SETTING}\r\n" for i in range(5000))
        ).encode("gbk"),
        "words, refused": lambda: (
            head + " ".join(f"слово{i:07d}сл" for i in range(1_000_000)).encode("cp1251") + b"\r\n"
        ),
        "one word, refused": lambda: head + ("é" * 20_000_000).encode("cp1252") + b"\r\n",
        "symbols, refused": lambda: head + ("5…" * 10_000_000).encode("cp1252") + b"\r\n",
    }


def best_of_3(data: bytes) -> tuple[float, str]:
    times = []
    for _ in range(3):
        started = time.process_time()
        table, problems = read_csv_table(data, "m.csv")
        times.append(time.process_time() - started)
    return min(times), "refused" if problems else table.encoding


def main() -> None:
    print("| file | MB | outcome | CPU s |")
    print("|---|---:|---|---:|")
    for label, encoding, rows in CORPUS:
        for size in (1_000_000, 20_000_000):
            if label not in ONE_MB or (size > 1_000_000 and label not in ("French", "Russian")):
                continue
            text = csv_text(rows)
            data = encode_as_excel(text * (size // len(text) + 1), encoding)
            seconds, outcome = best_of_3(data)
            print(f"| {label} ({encoding}) | {len(data) / 1e6:.1f} | {outcome} | {seconds:.2f} |")
    for label, make in twenty_mb().items():
        data = make()
        seconds, outcome = best_of_3(data)
        print(f"| {label} | {len(data) / 1e6:.1f} | {outcome} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
