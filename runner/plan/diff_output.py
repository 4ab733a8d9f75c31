"""plan --diff as JSON (streamed), plain text and a pull-request comment in Markdown."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from runner.markdown import md_code, md_text, utf16_len
from runner.plan.diff import DecisionReplaced, DiffEntry, PlanDiff
from runner.plan.plan_model import Plan
from runner.printable import one_line

FORMAT_VERSION = 1
# The hidden marker a workflow looks for to update its one comment in place.
COMMENT_MARKER = "<!-- backdrop-plan-diff -->"
TABLE_ROWS = 50
# GitHub refuses comments over 65,536 characters; counted after escaping, in UTF-16 code units.
COMMENT_LIMIT = 60_000
_TEXT_ROWS = 20
_WORDS = {
    "new": "new",
    "changed": "changed",
    "unchanged": "up to date",
    "download_only": "paid, to download",
    "stale": "stale",
}


def diff_json_chunks(plan: Plan, diff: PlanDiff, *, recipe: str) -> Iterator[str]:
    """The diff as one JSON document, piece by piece (schemas/plan-diff.schema.json)."""
    approvals = {item.job_key: item for item in diff.approvals_replaced}
    head = {
        "format_version": FORMAT_VERSION,
        "recipe": {"name": plan.recipe_name, "path": recipe},
        "compared_with": diff.source,
        "totals": {**diff.totals.to_json(), "approvals_replaced": len(approvals)},
    }
    text = json.dumps(head, indent=2, ensure_ascii=False)
    yield text[:-2] + ',\n  "jobs": ['
    for number, entry in enumerate(diff.entries):
        item = entry.to_json()
        replaced = approvals.get(entry.key or "") if entry.status != "stale" else None
        if replaced is not None:
            item["approval_replaced"] = replaced.to_json()
        line = json.dumps(item, ensure_ascii=False, separators=(", ", ": "))
        yield ("\n    " if number == 0 else ",\n    ") + line
    yield ("\n  ]" if diff.entries else "]") + "\n}\n"


def summary_line(diff: PlanDiff) -> str:
    """'3 new, 2 changed, 10 up to date, ... : 5 images to generate, about $0.06'."""
    t = diff.totals
    counts = [
        f"{t.new:,} new",
        f"{t.changed:,} changed",
        f"{t.unchanged:,} up to date",
        f"{t.download_only:,} paid but not downloaded",
        f"{t.stale:,} stale file{'s' if t.stale != 1 else ''}",
    ]
    cost = f"{t.images_to_generate:,} image{'s' if t.images_to_generate != 1 else ''} to generate"
    return f"{', '.join(counts)}: {cost}, estimated ${t.estimated_cost_usd:,.2f}"


def compared_with(diff: PlanDiff) -> str:
    return {
        "state": "compared with the output folder's state",
        "lock": "compared with backdrop.lock (no state in this checkout)",
        "none": "no earlier run in the output folder: every job is new",
    }[diff.source]


def diff_text(diff: PlanDiff, *, show_all: bool) -> str:
    lines = [f"Plan diff ({compared_with(diff)}):"]
    pending = [e for e in diff.entries if e.status != "unchanged"]
    shown = pending if show_all else pending[:_TEXT_ROWS]
    for entry in shown:
        what = f" ({', '.join(entry.changed_fields)})" if entry.changed_fields else ""
        who = f"  [{one_line(entry.label)}]" if entry.label else ""
        lines.append(f"  {_WORDS[entry.status]:<17} {one_line(entry.output)}{what}{who}")
    if len(pending) > len(shown):
        lines.append(f"  ... and {len(pending) - len(shown):,} more (use --all to list them)")
    lines.append(summary_line(diff))
    lines.extend(approvals_text(diff.approvals_replaced, "would", show_all=show_all))
    return "\n".join(lines)


def approvals_text(
    replaced: Sequence[DecisionReplaced], verb: str, *, show_all: bool = False
) -> list[str]:
    """'2 approved jobs would get new images and go back to review:' and one line per job."""
    if not replaced:
        return []
    noun = "approved job" if len(replaced) == 1 else "approved jobs"
    lines = [f"{len(replaced):,} {noun} {verb} get new images and go back to review:"]
    shown = replaced if show_all else replaced[:_TEXT_ROWS]
    lines.extend(f"  {one_line(item.review_key)} ({one_line(item.reason)})" for item in shown)
    if len(replaced) > len(shown):
        lines.append(f"  ... and {len(replaced) - len(shown):,} more")
    return lines


def diff_markdown(plan: Plan, diff: PlanDiff, *, recipe: str, limit: int = COMMENT_LIMIT) -> str:
    """A pull-request comment: totals with cost, a table of what changes, the full list folded;
    every value as its literal text (runner/markdown.py), the whole under `limit`."""
    t = diff.totals
    lines = [
        COMMENT_MARKER,
        f"### Backdrop plan: {md_code(recipe)}",
        "",
        f"**{t.images_to_generate:,} image{'s' if t.images_to_generate != 1 else ''} to "
        f"generate, estimated ${t.estimated_cost_usd:,.2f}** (list prices, not a quote). "
        f"{t.new:,} new, {t.changed:,} changed, {t.unchanged:,} up to date, "
        f"{t.download_only:,} paid and still to download, {t.stale:,} stale file(s).",
        "",
        f"_{md_text(compared_with(diff))}._",
        "",
    ]
    lines.extend(_approvals_markdown(diff.approvals_replaced))
    changing = [e for e in diff.entries if e.status != "unchanged"]
    if not changing:
        lines.append("Nothing to generate: every job is up to date.")
        return "\n".join(lines) + "\n"
    lines += [
        "| status | job | what changed | output | cost |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for entry in changing[:TABLE_ROWS]:
        lines.append(_row(entry))
    if len(changing) > TABLE_ROWS:
        lines.append(f"\nand {len(changing) - TABLE_ROWS:,} more.")
    head = "\n".join(lines) + "\n"
    # Each value is capped (md_text), so the table's 50 rows take at most about 33,000.
    return head + _details(changing, limit - utf16_len(head))


def _approvals_markdown(replaced: Sequence[DecisionReplaced]) -> list[str]:
    if not replaced:
        return []
    noun = "approved job" if len(replaced) == 1 else "approved jobs"
    lines = [
        f"**{len(replaced):,} {noun} would get new images and go back to review** "
        "(review.yaml keeps each approval in the job's history):",
        "",
    ]
    for item in replaced[:TABLE_ROWS]:
        lines.append(f"- {md_code(item.review_key)}: {md_text(item.reason)}")
    if len(replaced) > TABLE_ROWS:
        lines.append(f"- ... and {len(replaced) - TABLE_ROWS:,} more")
    return [*lines, ""]


def _details(entries: list[DiffEntry], budget: int) -> str:
    """The full list, folded; cut with a count when it would pass the comment's size limit."""
    opening = f"\n<details><summary>All {len(entries):,} jobs that change</summary>\n\n"
    closing = "\n</details>\n"
    reserve = len(opening) + len(closing) + 120  # room for the "and N more" line
    items: list[str] = []
    used = 0
    for number, entry in enumerate(entries):
        what = f" ({md_text(', '.join(entry.changed_fields))})" if entry.changed_fields else ""
        item = f"- {_WORDS[entry.status]}: {md_code(entry.output)}{what} {md_text(entry.label)}\n"
        size = utf16_len(item)
        if used + size + reserve > budget:
            items.append(
                f"- ... and {len(entries) - number:,} more: "
                "run `backdrop plan --diff` for the whole list\n"
            )
            break
        items.append(item)
        used += size
    return opening + "".join(items) + closing


def _row(entry: DiffEntry) -> str:
    what = ", ".join(entry.changed_fields)
    if not what and entry.status in ("new", "changed"):
        # A changed job without fields: only backdrop.lock was there to compare with.
        what = "new job" if entry.status == "new" else "its request"
    cost = f"${entry.cost_usd:,.2f}" if entry.images else ""
    return (
        f"| {_WORDS[entry.status]} | {md_text(entry.label or _vars_text(entry.vars))} | "
        f"{md_text(what)} | {md_code(entry.output)} | {cost} |"
    )


def _vars_text(vars: Mapping[str, Any], prefix: str = "") -> str:
    parts = []
    for name, value in vars.items():
        if isinstance(value, Mapping):
            inner = _vars_text(value, f"{prefix}{name}.")
            if inner:
                parts.append(inner)
        elif not isinstance(value, list):
            parts.append(f"{prefix}{name}={value}")
    return " ".join(parts)
