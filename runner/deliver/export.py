"""export_outputs: the approved results of an output folder, delivered into another folder.

Nothing is written when it would not change: a file (or zip, or manifest) whose bytes are
already there is left alone, so re-exporting an unchanged review rewrites nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.deliver.archive import build_zip
from runner.deliver.delivered import DeliveredRecord, Delivery
from runner.deliver.images import (
    DEFAULT_QUALITY,
    EXTENSIONS,
    FORMATS,
    Encoded,
    format_of,
    render_channel,
)
from runner.deliver.manifest import SEPARATORS, ManifestRow, render_manifest
from runner.deliver.names import NameRenderer
from runner.deliver.picks import Held, Pick, pick_results
from runner.deliver.render_cache import RenderCache, render_key
from runner.diagnostics import UsageError, display_path
from runner.execute.records import RunSnapshot
from runner.fileio import not_a_folder
from runner.recipe.model import Channel
from runner.report.axis_values import value_label
from runner.review.binding import approval_mismatch
from runner.review.checks import decision_problems, job_variants
from runner.review.decisions import Decision, Review, ReviewFileError

MANIFEST_NAME = "manifest.csv"
DEFAULT_GROUP = "market"
_ZIP_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExportOptions:
    name: str | None = None  # --name template; None: the job's output path without extension
    format: str | None = None  # jpeg | png | webp; None: as generated
    quality: int = DEFAULT_QUALITY  # jpeg and webp
    zip: bool = False
    group_by: str | None = None  # with zip: the axis (or axis.field) per zip; None: market
    csv_separator: str = ","
    strict: bool = False  # pending or rejected jobs are an error (for CI)
    overwrite: bool = False  # replace files in --to that no export wrote (the user's own)

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise UsageError(f"--format {self.format}: choose one of {', '.join(FORMATS)}")
        if not 0 <= self.quality <= 100:
            raise UsageError(f"--quality {self.quality}: must be between 0 and 100")
        if self.csv_separator not in SEPARATORS:
            raise UsageError(f"--csv-separator {self.csv_separator!r}: choose , or ;")
        if self.group_by is not None and not self.zip:
            raise UsageError("--group-by needs --zip", hint="add --zip to write one zip per group")


@dataclass(frozen=True)
class ExportResult:
    to: Path
    files: tuple[ManifestRow, ...]  # every delivered file
    written: tuple[str, ...]  # delivered files (or zips) written this time, relative to `to`
    unchanged: int  # delivered files (or zips) already there with the same bytes
    manifest_written: bool  # False: manifest.csv was already up to date
    held: tuple[Held, ...]  # jobs left out: pending, rejected, ...
    zips: tuple[str, ...]


def export_outputs(
    output_dir: Path,
    to: Path,
    snapshot: RunSnapshot,
    decisions: Mapping[str, Decision],
    channels: Sequence[Channel],
    options: ExportOptions,
    *,
    recipe: Path | None = None,
) -> ExportResult:
    """Deliver the approved jobs' picked images; UsageError for anything that stops it.

    Only the bytes each approval was made on are delivered: an approval of other images, or
    made without its images' SHA-256, or a file changed since, stops the export (exit 2).
    """
    output_dir, to = Path(output_dir).absolute(), Path(to).absolute()
    _check_folder(output_dir, to, snapshot, recipe)
    problems = decision_problems(output_dir, Review(decisions), job_variants(snapshot))
    if problems:
        raise ReviewFileError(problems)
    picks, held = pick_results(snapshot, decisions)
    _check_approved_bytes(output_dir, picks, decisions)
    if options.strict and held:
        raise UsageError(
            f"{len(held)} job(s) are not approved and ready: "
            + "; ".join(f"{h.review_key} ({h.reason})" for h in held[:10])
            + (" ..." if len(held) > 10 else ""),
            hint="review them (backdrop review), or export without --strict to deliver the rest",
        )
    names = NameRenderer(options.name, snapshot.recipe_name)
    group_key = options.group_by or DEFAULT_GROUP
    if options.zip:
        _check_group(snapshot, group_key)
    cache = RenderCache(output_dir, to)
    planned: dict[str, tuple[str, bytes, ManifestRow]] = {}  # casefolded path -> (path, data, row)
    zips: dict[str, dict[str, bytes]] = {}
    zip_groups: dict[str, str] = {}  # casefolded zip name -> the group value it holds
    try:
        for pick in picks:
            source = _read_source(output_dir, pick)  # checked against its hash even when cached
            source_format = format_of(pick.file.path)
            fmt = options.format or source_format
            zip_name = ""
            if options.zip:
                zip_name, group = _zip_name(pick.job.vars, group_key)
                first_group = zip_groups.setdefault(zip_name.casefold(), group)
                if first_group != group:
                    raise UsageError(
                        f"the {group_key} values {first_group!r} and {group!r} would both "
                        f"be zipped as {zip_name}",
                        hint="group by another axis with --group-by, e.g. --group-by market.code",
                    )
            for channel in channels or (None,):
                path = names.path(
                    review_key=pick.review_key,
                    vars=pick.job.vars,
                    channel=channel.name if channel else None,
                    variant=pick.variant,
                    take=pick.take,
                    extension=EXTENSIONS[fmt],
                    label=pick.job.label,
                )
                key = render_key(pick.file.sha256, channel, fmt, options.quality)
                reused = cache.reuse(key, path, zip_name)
                if reused is not None:
                    encoded = Encoded(*reused)
                else:
                    same = fmt == source_format
                    encoded = render_channel(
                        source, channel, fmt, options.quality, same_format=same
                    )
                    cache.remember(key, encoded.data, encoded.width, encoded.height)
                row = ManifestRow(
                    file=path,
                    zip=zip_name,
                    channel=channel.name if channel else "original",
                    width=encoded.width,
                    height=encoded.height,
                    sha256=hashlib.sha256(encoded.data).hexdigest(),
                    matrix=tuple((name, value) for name, value in pick.job.vars.items()),
                    job_key=pick.job.key,
                    take=pick.take,
                    variant=pick.variant,
                    source_output=pick.file.path,
                    source_sha256=pick.file.sha256,
                    prompt=str(pick.job.prompt_object.get("prompt", "")),
                )
                where = f"{zip_name}:{path}".casefold() if zip_name else path.casefold()
                clash = planned.get(where)
                if clash is not None or (not zip_name and path.casefold() == MANIFEST_NAME):
                    first = clash[2].job_key[:12] if clash else "the manifest"
                    raise UsageError(
                        f"two delivered files would both be named {path} "
                        f"(jobs {first} and {pick.job.key[:12]}: {pick.job.label})",
                        hint="put more matrix values in --name, e.g. {{ market.code }}",
                    )
                planned[where] = (path, encoded.data, row)
                if zip_name:
                    zips.setdefault(zip_name, {})[path] = encoded.data
    finally:
        cache.save()  # also closes the zips it read
    rows = tuple(row for _, _, row in planned.values())
    delivered = [(path, data) for path, data, _ in planned.values() if not options.zip]
    delivered += [(name, build_zip(files)) for name, files in sorted(zips.items())]
    delivered.append((MANIFEST_NAME, render_manifest(rows, options.csv_separator)))
    delivery = Delivery(to, DeliveredRecord(output_dir, to), overwrite=options.overwrite)
    delivery.write_all(delivered)
    return ExportResult(
        to=to,
        files=rows,
        written=tuple(p for p in delivery.written if p != MANIFEST_NAME),
        unchanged=sum(p != MANIFEST_NAME for p in delivery.unchanged),
        manifest_written=MANIFEST_NAME in delivery.written,
        held=held,
        zips=tuple(sorted(zips)),
    )


def _check_approved_bytes(
    output_dir: Path, picks: Sequence[Pick], decisions: Mapping[str, Decision]
) -> None:
    """Refuse, naming every one, the picks whose approval is not for the bytes in the folder."""
    refused = [
        found
        for pick in picks
        if (
            found := approval_mismatch(
                output_dir, pick.review_key, pick.job, decisions[pick.review_key], pick.variant
            )
        )
        is not None
    ]
    if not refused:
        return
    listed = "; ".join(f"{m.review_key} ({m.reason})" for m in refused[:10])
    more = f"; and {len(refused) - 10:,} more" if len(refused) > 10 else ""
    raise UsageError(
        f"{len(refused):,} approved job(s) are not the images that were approved, and were not "
        f"exported: {listed}{more}",
        hint=f"review them again (backdrop review {display_path(output_dir)}); a file changed "
        "by hand: run the recipe again to restore the approved image (downloaded again, not "
        "paid again; the changed file is kept aside)",
    )


def _check_folder(output_dir: Path, to: Path, snapshot: RunSnapshot, recipe: Path | None) -> None:
    """--to must be a folder of its own: not in the output folder, and holding none of the
    recipe's folder, its source images or the output folder (their files could share names)."""
    _check_is_folder(to)
    real_to = to.resolve()
    real_out = output_dir.resolve()
    if real_to == real_out or real_out in real_to.parents:
        raise UsageError(
            f"--to {to} is inside the output folder {output_dir}",
            hint="export into a folder of its own, e.g. --to delivery/",
        )
    guarded = [
        ("the recipe's folder", path.resolve().parent)
        for path in (Path(snapshot.recipe_path), recipe)
        if path is not None and path.is_file()
    ]
    for job in snapshot.jobs:
        if job.image_path:
            guarded.append((f"the source image {job.image_ref}", Path(job.image_path).resolve()))
    guarded.append(("the output folder", real_out))
    for what, path in guarded:
        if real_to == path or real_to in path.parents:
            where = "is" if real_to == path else "holds"
            raise UsageError(
                f"--to {to} {where} {what} ({path}); export could overwrite files there",
                hint="export into a folder of its own, e.g. --to delivery/",
            )


def _check_is_folder(to: Path) -> None:
    """--to names a folder (created when missing): not a file, a device, or a path under one."""
    blocker = not_a_folder(to)
    if blocker is None:
        return
    path, what = blocker
    shown = display_path(to)
    where = f"{shown} is" if path == to else f"{shown} lies under {display_path(path)}, which is"
    raise UsageError(
        f"--to must be a folder: {where} {what}",
        hint="give the folder to deliver into; it is created when missing, e.g. --to delivery/",
    )


def _read_source(output_dir: Path, pick: Pick) -> bytes:
    path = output_dir / pick.file.path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read {pick.file.path} in the output folder: {exc.strerror or exc}",
            hint="run the recipe again: backdrop downloads missing images without paying again",
        ) from None
    if hashlib.sha256(data).hexdigest() != pick.file.sha256:
        raise UsageError(
            f"{pick.file.path} has changed since backdrop wrote it",
            hint="run the recipe again to restore it, or backdrop verify to see every change",
        )
    return data


def _lookup(vars: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = vars
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _check_group(snapshot: RunSnapshot, group_key: str) -> None:
    if any(_lookup(job.vars, group_key)[0] for job in snapshot.jobs):
        return
    axes = ", ".join(snapshot.axes) or "none"
    raise UsageError(
        f"--zip groups by {group_key!r}, but no job has a matrix value of that name",
        hint=f"choose the axis per zip with --group-by AXIS (the axes are: {axes})",
    )


def _zip_name(vars: Mapping[str, Any], group_key: str) -> tuple[str, str]:
    """The zip for a job, and the group value it stands for (jobs without one: "other")."""
    found, value = _lookup(vars, group_key)
    text = value_label(value) if found else "other"
    safe = _ZIP_NAME_UNSAFE.sub("-", text).strip("-.")[:100] or "other"
    return f"{safe}.zip", text
