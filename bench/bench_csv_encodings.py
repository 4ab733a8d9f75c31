"""What Backdrop makes of CSV files that Excel writes in each market's legacy code page.

For each language in bench/csv_corpus.py, a short file (its first row that is not ASCII) and a
long one (every row) are encoded in the code page Excel writes there, then read with
`read_csv_table`. Each outcome is
"ok" (decoded to the text written), "refused" (the "save as CSV UTF-8" message) or "WRONG"
(decoded to other text: garbled prompts would go to the API).

A second table reads harder cases, one value per file: every cell alone, every word with a
letter outside ASCII alone, and 60 random phrases of 2 to 6 of those words (seeded).

Run: .venv/bin/python bench/bench_csv_encodings.py
"""

from __future__ import annotations

import random
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from csv_corpus import CORPUS, csv_text, encode_as_excel

from runner.plan.csvfile import read_csv_table


def outcome(rows: list[tuple[str, str, str]], encoding: str) -> str:
    text = csv_text(rows)
    table, problems = read_csv_table(encode_as_excel(text, encoding), "markets.csv")
    if problems:
        return "refused"
    got = [unicodedata.normalize("NFC", row["setting"] + row["product"]) for row in table.rows]
    want = [unicodedata.normalize("NFC", setting + product) for _, product, setting in rows]
    return "ok" if got == want else f"WRONG ({table.encoding})"


def single_values(rows: list[tuple[str, str, str]], rng: random.Random) -> list[str]:
    cells = [cell for _, product, setting in rows for cell in (product, setting)]
    words = sorted({w.strip(",.") for cell in cells for w in cell.split() if not w.isascii()})
    phrases = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) for _ in range(60)]
    return cells + words + phrases


def value_outcome(value: str, encoding: str) -> str:
    return outcome([("x", "", value)], encoding).split()[0]


def main() -> None:
    print("| language | code page | short file (1 row) | long file (all rows) |")
    print("|---|---|---|---|")
    counts: dict[str, int] = {}
    started = time.process_time()
    for label, encoding, rows in CORPUS:
        first = next(row for row in rows if not "".join(row).isascii())
        short, long = outcome([first], encoding), outcome(rows, encoding)
        for result in (short, long):
            kind = result.split()[0]
            counts[kind] = counts.get(kind, 0) + 1
        print(f"| {label} | {encoding} | {short} | {long} |")
    elapsed = time.process_time() - started
    summary = ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))
    print(f"\n{summary} ({elapsed:.2f} s CPU for {2 * len(CORPUS)} files)\n")
    print("| language | code page | values | ok | refused | WRONG |")
    print("|---|---|---:|---:|---:|---:|")
    rng = random.Random(1)
    total: Counter[str] = Counter()
    for label, encoding, rows in CORPUS:
        tally = Counter(value_outcome(v, encoding) for v in single_values(rows, rng))
        total += tally
        row = f"{sum(tally.values())} | {tally['ok']} | {tally['refused']} | {tally['WRONG']}"
        print(f"| {label} | {encoding} | {row} |")
    print(
        f"| all | | {sum(total.values())} | {total['ok']} | {total['refused']} | {total['WRONG']} |"
    )


if __name__ == "__main__":
    main()
