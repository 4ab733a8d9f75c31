"""plan_recipe: a validated Recipe in, a Plan (or every problem at once) out."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from runner.diagnostics import Diagnostic, RecipeError, UsageError, display_path
from runner.fileio import MAX_NAME_BYTES
from runner.plan.axes import load_axes
from runner.plan.jobs import OUTPUT_NODE, JobBuilder
from runner.plan.matrix import (
    MAX_ADDED_VALUES,
    TooManyAddedValues,
    check_exclude,
    expand_matrix,
    matrix_size,
)
from runner.plan.outputs import sources_inside
from runner.plan.plan_model import Job, Plan
from runner.plan.problems import ProblemLog
from runner.recipe.files import data_roots, path_text_problem
from runner.recipe.model import NodePath, PriceTable, Recipe, format_path

DEFAULT_MAX_JOBS = 10_000


def output_folder(recipe: Recipe, output_dir: Path | None = None) -> Path:
    """The argument, else the recipe's `output_dir` (relative to it), else out/<name>/ beside it."""
    if output_dir is not None:
        return output_dir.absolute()
    if recipe.output_dir:
        return (recipe.base_dir / recipe.output_dir).absolute()
    return (recipe.base_dir / "out" / recipe.name).absolute()


def job_cap(recipe: Recipe, max_jobs: int | None = None) -> int:
    if max_jobs is not None:
        return max_jobs
    return recipe.max_jobs if recipe.max_jobs is not None else DEFAULT_MAX_JOBS


def plan_recipe(
    recipe: Recipe,
    *,
    output_dir: Path | None = None,
    max_jobs: int | None = None,
    prices: PriceTable | None = None,
    allow_outside: Sequence[Path] = (),
) -> Plan:
    """Expand, render and check every job; raises RecipeError carrying every problem found.

    Data files and images must lie inside the recipe's project (its folder, or the git
    repository holding it) or one of the `allow_outside` folders.
    """
    _check_output_dir(recipe)
    folder = output_folder(recipe, output_dir)
    if output_dir is not None:
        _check_output_flag(folder)
    _check_folder_shape(recipe, folder, from_flag=output_dir is not None)
    cap = job_cap(recipe, max_jobs)
    roots = data_roots(recipe.base_dir, allow_outside)
    axes, diagnostics = load_axes(recipe, roots)
    warnings = [*recipe.warnings, *(d for d in diagnostics if d.severity == "warning")]
    diagnostics = [d for d in diagnostics if d.severity == "error"]
    diagnostics += check_exclude(recipe, axes)
    problems = ProblemLog(recipe.source)
    builder = JobBuilder(recipe, axes, folder, problems, roots)
    builder.check_templates()
    if diagnostics or problems:
        raise RecipeError([*diagnostics, *problems.diagnostics(0), *warnings])

    # Count before building: a 10^12 matrix must fail now, not after filling the memory.
    product = matrix_size(axes)
    if product > cap:
        raise RecipeError([_too_many(recipe, product, cap, max_jobs, exact=False)])
    try:
        combinations = expand_matrix(axes, recipe.include, recipe.exclude)
    except TooManyAddedValues as many:
        raise RecipeError([_too_many_added(recipe, many.count)]) from None
    if not combinations:
        raise RecipeError([_all_excluded(recipe, product)])
    if len(combinations) > cap:
        raise RecipeError([_too_many(recipe, len(combinations), cap, max_jobs, exact=True)])

    jobs: list[Job] = []
    for index, combo in enumerate(combinations):
        job = builder.build(index, combo)
        if job is not None:
            jobs.append(job)
    _check_sources_kept(recipe, folder, jobs, problems)
    warnings += builder.warnings()
    if problems:
        raise RecipeError([*problems.diagnostics(len(combinations)), *warnings])
    return Plan(
        recipe_name=recipe.name,
        recipe_path=recipe.path,
        output_dir=folder,
        axes=tuple(axis.name for axis in axes),
        jobs=_distinct_keys(jobs),
        prices=prices if prices is not None else recipe.prices,
        report=recipe.report,
        budget=recipe.budget,
        warnings=tuple(warnings),
    )


def _check_sources_kept(
    recipe: Recipe, folder: Path, jobs: list[Job], problems: ProblemLog
) -> None:
    """An output must never replace the recipe, its data or a source image (`-o .` and the like)."""
    sources = [recipe.path]
    sources += [
        recipe.base_dir / axis.source.path
        for axis in recipe.axes
        if axis.source.kind in ("csv", "yaml", "xlsx") and axis.source.path
    ]
    sources += [job.image.path for job in jobs if job.image.path is not None]
    inside = sources_inside(folder, sources)
    if not inside:
        return
    for job in jobs:
        for path in job.outputs:
            source = inside.get(path.casefold())
            if source is not None:
                problems.add(
                    OUTPUT_NODE,
                    f"the output {path} would overwrite the source file {display_path(source)}",
                    label=job.label,
                    hint="choose an output folder apart from the recipe's files (the default"
                    " out/<name>/ is), or change `output`",
                    group="overwrites a source",
                )


def _distinct_keys(jobs: list[Job]) -> tuple[Job, ...]:
    """Give repeats of the same request (same image and promptObject) keys of their own.

    Two such jobs are two paid generations with different results (the model is not
    deterministic), so they must not share one record in the state. The first keeps the plain
    key, so that renaming its output still reuses earlier results; the k-th repeat gets a key
    derived from the plain key and k, stable as long as the matrix order is.
    """
    seen: dict[str, int] = {}
    out = []
    for job in jobs:
        count = seen[job.key] = seen.get(job.key, 0) + 1
        if count > 1:
            repeat = hashlib.sha256(f"{job.key}#{count}".encode()).hexdigest()
            job = dataclasses.replace(job, key=repeat)
        out.append(job)
    return tuple(out)


def _too_many(recipe: Recipe, count: int, cap: int, flag: int | None, *, exact: bool) -> Diagnostic:
    from_recipe = flag is None and recipe.max_jobs is not None
    node: NodePath = ("max_jobs",) if from_recipe else ("matrix",)
    size = f"{count:,} jobs" if exact else f"{count:,} combinations before `exclude`"
    where = "--max-jobs" if flag is not None else "max_jobs" if from_recipe else "the default cap"
    message = f"the matrix makes {size}, more than the cap of {cap:,} ({where})"
    hint = (
        "make the matrix smaller (fewer values, or `exclude`), or raise the cap with "
        "`max_jobs: N` in the recipe or `backdrop plan --max-jobs N`"
    )
    return Diagnostic(message, path=format_path(node), span=recipe.source.span(node), hint=hint)


def _too_many_added(recipe: Recipe, count: int) -> Diagnostic:
    node: NodePath = ("matrix", "include")
    message = (
        f"the include entries add {count:,} values to the combinations, more than the "
        f"{MAX_ADDED_VALUES:,} a plan may hold"
    )
    hint = (
        "an include entry without axis keys adds its keys to every combination: put such "
        "values in `vars` or `defaults` instead, or name the combinations they are for"
    )
    return Diagnostic(message, path=format_path(node), span=recipe.source.span(node), hint=hint)


def _all_excluded(recipe: Recipe, product: int) -> Diagnostic:
    node: NodePath = ("matrix", "exclude")
    message = f"every combination is excluded: the {product:,} combinations all match an entry"
    hint = "remove or narrow the `exclude` entries that match everything"
    return Diagnostic(message, path=format_path(node), span=recipe.source.span(node), hint=hint)


def _check_output_dir(recipe: Recipe) -> None:
    """An output_dir no folder can have (a NUL or control character, a name too long for any
    file system) is the recipe's error."""
    text = recipe.output_dir or ""
    problem = path_text_problem(text)
    longest = max((len(part.encode("utf-8", "replace")) for part in text.split("/")), default=0)
    if problem is None and longest > MAX_NAME_BYTES:
        problem = (
            f"a folder name in this path is {longest:,} bytes long; file systems allow "
            f"{MAX_NAME_BYTES}"
        )
    if problem is not None:
        node: NodePath = ("output_dir",)
        span = recipe.source.span(node)
        raise RecipeError([Diagnostic(problem, path=format_path(node), span=span)])


def _check_folder_shape(recipe: Recipe, folder: Path, *, from_flag: bool) -> None:
    """An output folder that is a file or a device (`-o /dev/null`), or lies under a file, is
    said as such, before anything tries to read review.yaml or state from inside it."""
    for path in (folder, *folder.parents):
        if not os.path.exists(path):  # never raises, unlike Path.exists on EACCES
            continue
        if os.path.isdir(path):
            return
        what = "it is not a folder" if path == folder else f"{display_path(path)} is not a folder"
        message = f"{display_path(folder)} cannot be the output folder: {what}"
        if from_flag:
            raise UsageError(
                f"--output-dir: {message}",
                hint="give a folder; it is created when missing, e.g. -o out/campaign",
            )
        node: NodePath = ("output_dir",)
        span = recipe.source.span(node) if recipe.output_dir else None
        hint = "set output_dir to a folder, or pass one with -o"
        raise RecipeError([Diagnostic(message, path=format_path(node), span=span, hint=hint)])


def _check_output_flag(folder: Path) -> None:
    """--output-dir with a folder name no file system takes is a usage error, not a crash."""
    longest = max(len(part.encode("utf-8", "replace")) for part in folder.parts)
    if longest > MAX_NAME_BYTES:
        raise UsageError(
            f"--output-dir: a folder name is {longest:,} bytes long; file systems allow "
            f"{MAX_NAME_BYTES}",
            hint="choose a shorter folder name",
        )
