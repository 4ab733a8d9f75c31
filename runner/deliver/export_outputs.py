"""export_outputs: the approved results of an output folder, delivered into another folder.

Nothing is written when it would not change: a file (or zip, or manifest) whose bytes are
already there is left alone, so re-exporting an unchanged review rewrites nothing.

Nothing is held whole in memory: each delivered file is made a band of rows at a time and
written as it is made, under a temporary name in --to; every name is put in place once all are
made (runner/deliver/delivered.py). Everything that can stop an export is checked before
anything is made: the approvals against the files' hashes, the sources' headers and ends, the
names, and what is at each delivered name in --to.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runner.deliver.archive import ZipWriter
from runner.deliver.collisions import NameClashes
from runner.deliver.delivered import DeliveredRecord, Delivery
from runner.deliver.export_cache import RenderCache, Rendered, render_key
from runner.deliver.manifest_csv import SEPARATORS, ManifestRow, render_manifest
from runner.deliver.names import NameRenderer
from runner.deliver.picks import Held, Pick, pick_results
from runner.deliver.resize import (
    DEFAULT_QUALITY,
    EXTENSIONS,
    FORMATS,
    SourceDamaged,
    SourceImage,
    SourceTooLarge,
    check_complete,
    check_renderable,
    format_of,
    inspect_source,
    render_channel,
)
from runner.deliver.sources import SourceFiles
from runner.diagnostics import UsageError, display_path
from runner.fileio import NotAFile, not_a_folder, sha256_stream
from runner.plan.outputs import OutputProblem, output_paths
from runner.recipe.model import Channel
from runner.records.run_records import JobRecord, RunSnapshot
from runner.report.axis_values import value_label
from runner.review.binding import approval_mismatch
from runner.review.checks import decision_problems, job_variants
from runner.review.decision_model import Decision, Review
from runner.review.decisions import ReviewFileError

if TYPE_CHECKING:
    import zipfile

MANIFEST_NAME = "manifest.csv"
DEFAULT_GROUP = "market"
_ZIP_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_COPY_CHUNK = 1 << 20
_SHOWN = 10


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


@dataclass(frozen=True)
class _Planned:
    """One delivered file: where it goes, and what it is made of."""

    path: str  # inside --to, or inside its zip
    zip: str  # the zip holding it, or ""
    pick: Pick
    channel: Channel | None
    fmt: str
    key: str  # the render key (runner/deliver/export_cache.py)


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
    sources = SourceFiles(output_dir, {pick.file.path: pick.file.bytes for pick in picks})
    _check_approved_bytes(output_dir, picks, decisions, sources)
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
    planned = _plan(picks, channels, options, names, group_key)
    images = _check_sources(snapshot, picks, sources, planned)
    zips = sorted({item.zip for item in planned if item.zip})
    delivery = Delivery(to, DeliveredRecord(output_dir, to), overwrite=options.overwrite)
    delivery.check_targets([*(zips or [item.path for item in planned]), MANIFEST_NAME])
    cache = RenderCache(output_dir)
    maker = _Maker(sources, images, options.quality, cache, snapshot)
    try:
        if options.zip:
            for zip_name in zips:
                members = sorted(
                    (item.path, index) for index, item in enumerate(planned) if item.zip == zip_name
                )
                _write_zip(delivery, zip_name, [(planned[i], i) for _, i in members], maker)
        else:
            for index, item in enumerate(planned):
                _write_file(delivery, item, index, maker)
        rows = tuple(_row(item, maker.made[index]) for index, item in enumerate(planned))
        with delivery.stage(MANIFEST_NAME) as sink:
            sink.write(render_manifest(rows, options.csv_separator))
        delivery.commit()
    finally:
        delivery.discard()  # what an error or a stop signal left half made
        delivery.record.save()
        cache.save()
    return ExportResult(
        to=to,
        files=rows,
        written=tuple(p for p in delivery.written if p != MANIFEST_NAME),
        unchanged=sum(p != MANIFEST_NAME for p in delivery.unchanged),
        manifest_written=MANIFEST_NAME in delivery.written,
        held=held,
        zips=tuple(zips),
    )


def _plan(
    picks: Sequence[Pick],
    channels: Sequence[Channel],
    options: ExportOptions,
    names: NameRenderer,
    group_key: str,
) -> list[_Planned]:
    """Every delivered file, named, in plan order; UsageError for names that clash."""
    clashes = NameClashes(options.name, names.used, MANIFEST_NAME)
    zip_groups: dict[str, str] = {}  # same-file key of a zip name -> the group value it holds
    planned = []
    for pick in picks:
        fmt = options.format or format_of(pick.file.path)
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
            clashes.add(zip_name, path, pick.job)
            key = render_key(pick.file.sha256, channel, fmt, options.quality)
            planned.append(_Planned(path, zip_name, pick, channel, fmt, key))
    return planned


def _check_sources(
    snapshot: RunSnapshot, picks: Sequence[Pick], sources: SourceFiles, planned: Sequence[_Planned]
) -> dict[str, SourceImage]:
    """Each delivered source's header, checked whole and small enough to make every delivered
    file of; UsageError naming every job that is not."""
    images: dict[str, SourceImage] = {}
    damaged: list[tuple[Pick, str]] = []
    large: list[tuple[Pick, str, SourceTooLarge]] = []
    for pick in picks:
        path = pick.file.path
        if path in images:
            continue
        opener = _opener(sources, path)
        try:
            image = inspect_source(opener)
            check_complete(opener, image)
        except SourceDamaged as exc:
            damaged.append((pick, f"{path}: {exc}"))
            continue
        except SourceTooLarge as exc:
            large.append((pick, path, exc))
            continue
        images[path] = image
    for item in planned:
        known = images.get(item.pick.file.path)
        if known is None:
            continue
        try:
            check_renderable(known, item.channel, item.fmt)
        except SourceTooLarge as exc:
            where = f"for {item.channel.name}" if item.channel else "as it is"
            large.append((item.pick, f"{item.pick.file.path} {where}", exc))
    if damaged:
        raise damaged_sources(snapshot, damaged)
    if large:
        raise _too_large(large)
    return images


def _too_large(large: Sequence[tuple[Pick, str, SourceTooLarge]]) -> UsageError:
    """The jobs export cannot make as asked; one reason said once when it is the same for all."""
    jobs = list({pick.review_key: pick for pick, _, _ in large})
    reasons = {str(exc) for _, _, exc in large}
    if len(reasons) == 1:
        listed = f"{_listed(jobs)} ({large[0][1]}: {reasons.pop()})"
    else:
        first = {pick.review_key: f"{where}: {exc}" for pick, where, exc in reversed(large)}
        listed = _listed([f"{key} ({first[key]})" for key in jobs])
    hints = []
    if any(exc.webp for _, _, exc in large):
        hints.append("export those channels as PNG or JPEG (--format), which have no such limit")
    if not all(exc.webp for _, _, exc in large):
        hints.append(
            "a source that large is not an image the API makes: delete it and run the recipe "
            "again, which downloads the job's image again (then review it)"
        )
    return UsageError(
        f"{len(jobs):,} approved job(s) are too large to export as asked, and nothing was "
        f"exported: {listed}",
        hint="; ".join(hints),
    )


def damaged_sources(snapshot: RunSnapshot, damaged: Sequence[tuple[Pick, str]]) -> UsageError:
    """The jobs whose image is damaged, and how to get each generated again."""
    first = damaged[0][0].job
    recipe = shlex.quote(display_path(Path(snapshot.recipe_path)))
    only = " ".join(f"--only {shlex.quote(f'{axis}={value}')}" for axis, value in _labels(first))
    return UsageError(
        f"{len(damaged):,} approved job(s) have a damaged image, and nothing was exported: "
        + _listed([f"{pick.review_key} ({why})" for pick, why in damaged]),
        hint=f"delete the damaged file{'s' if len(damaged) > 1 else ''} and run the recipe "
        f"again (backdrop run {recipe}): backdrop downloads {'them' if len(damaged) > 1 else 'it'} "
        "again without paying, and sends the job back to review; if the download is damaged "
        f"too, generate the job again: backdrop run {recipe} --force --include-approved {only}",
    )


def _labels(job: JobRecord) -> list[tuple[str, str]]:
    """The job's matrix values as --only takes them (a mapping by its label, its first field)."""
    return [(axis, value_label(value)) for axis, value in job.vars.items()]


def _listed(items: Sequence[str]) -> str:
    more = f"; and {len(items) - _SHOWN:,} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def _opener(sources: SourceFiles, path: str) -> Callable[[], IO[bytes]]:
    def opened() -> IO[bytes]:
        try:
            return sources.open(path)
        except (OSError, NotAFile) as exc:
            raise SourceDamaged(f"it cannot be read ({exc})") from None

    return opened


class _Maker:
    """Makes delivered files, copied or rendered; notes what each planned file came out as."""

    def __init__(
        self,
        sources: SourceFiles,
        images: Mapping[str, SourceImage],
        quality: int,
        cache: RenderCache,
        snapshot: RunSnapshot,
    ) -> None:
        self.sources, self.images, self.quality = sources, images, quality
        self.cache, self.snapshot = cache, snapshot
        self.made: dict[int, Rendered] = {}  # by the planned file's place in the plan

    def make(self, item: _Planned, index: int, sink: IO[bytes]) -> Rendered:
        path = item.pick.file.path
        image = self.images[path]
        writer = _HashingWriter(sink)
        try:
            if item.channel is None and item.fmt == image.format:
                size = (image.width, image.height)
                self._copy(path, writer)
            else:
                made = render_channel(
                    _opener(self.sources, path), image, item.channel, item.fmt, self.quality, writer
                )
                size = (made.width, made.height)
        except SourceDamaged as exc:
            raise damaged_sources(self.snapshot, [(item.pick, f"{path}: {exc}")]) from None
        rendered = Rendered(writer.hexdigest(), *size, writer.size)
        if (
            item.channel is None
            and item.fmt == image.format
            and rendered.sha256 != item.pick.file.sha256
        ):
            raise UsageError(
                f"{path} changed while it was exported",
                hint="export again once nothing writes into the output folder",
            )
        self.cache.remember(item.key, rendered)
        self.made[index] = rendered
        return rendered

    def reused(self, item: _Planned) -> Rendered | None:
        """What the cache says this file's rendering gives, when the caller finds it there."""
        return self.cache.get(item.key)

    def _copy(self, path: str, writer: _HashingWriter) -> None:
        with _opener(self.sources, path)() as source:
            while chunk := source.read(_COPY_CHUNK):
                writer.write(chunk)


def _write_file(delivery: Delivery, item: _Planned, index: int, maker: _Maker) -> None:
    cached = maker.reused(item)
    found = delivery.existing(item.path) if cached is not None else None
    if cached is not None and found is not None and found[1].st_size == cached.size:
        handle = delivery.open_existing(item.path)
        if handle is not None:
            with handle:
                same = sha256_stream(handle) == cached.sha256
            if same:  # delivered before and untouched: not made again
                delivery.keep(item.path, cached.sha256, cached.size)
                maker.made[index] = cached
                return
    with delivery.stage(item.path) as sink:
        maker.make(item, index, sink)


def _write_zip(
    delivery: Delivery, zip_name: str, members: Sequence[tuple[_Planned, int]], maker: _Maker
) -> None:
    """One zip, its members in name order; a member the old zip holds as the cache says is
    copied from it instead of made again."""
    import zipfile

    with contextlib.ExitStack() as stack:
        old: zipfile.ZipFile | None = None
        handle = delivery.open_existing(zip_name)
        if handle is not None:
            stack.enter_context(handle)
            with contextlib.suppress(zipfile.BadZipFile, OSError, ValueError, EOFError):
                old = stack.enter_context(zipfile.ZipFile(handle))
        with delivery.stage(zip_name) as sink:
            archive = ZipWriter(sink)
            for item, index in members:
                cached = maker.reused(item)
                with archive.member(item.path) as stream:
                    if cached and old and _copy_member(old, zip_name, item.path, cached, stream):
                        maker.made[index] = cached
                    else:
                        maker.make(item, index, stream)
            archive.close()


def _copy_member(
    old: zipfile.ZipFile, zip_name: str, name: str, cached: Rendered, stream: IO[bytes]
) -> bool:
    """Copy a member of the old zip when it is exactly what the cache says (read once to check,
    once to copy: nothing is written into the new zip before the check)."""
    try:
        info = old.getinfo(name)
        if info.file_size != cached.size:
            return False
        with old.open(info) as member:
            if sha256_stream(member) != cached.sha256:
                return False
    except (KeyError, OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False
    try:
        with old.open(info) as member:
            while chunk := member.read(_COPY_CHUNK):
                stream.write(chunk)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise UsageError(
            f"{name} in the delivered {zip_name} could not be read again ({exc})",
            hint="export again once nothing else writes into the export folder",
        ) from None
    return True


def _row(item: _Planned, rendered: Rendered) -> ManifestRow:
    pick = item.pick
    return ManifestRow(
        file=item.path,
        zip=item.zip,
        channel=item.channel.name if item.channel else "original",
        width=rendered.width,
        height=rendered.height,
        sha256=rendered.sha256,
        matrix=tuple((name, value) for name, value in pick.job.vars.items()),
        job_key=pick.job.key,
        take=pick.take,
        variant=pick.variant,
        source_output=pick.file.path,
        source_sha256=pick.file.sha256,
        prompt=str(pick.job.prompt_object.get("prompt", "")),
    )


class _HashingWriter:
    """Passes bytes on to `sink`, hashing and counting them: the delivered file's SHA-256."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sink.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _check_approved_bytes(
    output_dir: Path,
    picks: Sequence[Pick],
    decisions: Mapping[str, Decision],
    sources: SourceFiles,
) -> None:
    """Refuse, naming every one, the picks whose approval is not for the bytes in the folder.

    Each file is hashed once, in chunks, by `sources`; one that is not a regular file (a pipe,
    a link out of the folder) or not of its recorded size is refused without being read.
    """
    refused = []
    for pick in picks:
        decision = decisions[pick.review_key]
        found = approval_mismatch(
            output_dir, pick.review_key, pick.job, decision, pick.variant, sources.sha256
        )
        if found is not None:
            why = sources.problems.get(pick.file.path, found.reason)
            refused.append(f"{found.review_key} ({why})")
    if not refused:
        return
    listed = "; ".join(refused[:10])
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
    try:
        output_paths(safe, "zip", 1)
    except OutputProblem:  # a name Windows keeps for a device ("CON", "nul"): not a file there
        safe = f"_{safe}"
    return f"{safe}.zip", text
