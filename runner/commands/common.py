"""What several commands share: the plan options, loading a plan, grouping options, numbers."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runner.diagnostics import UsageError


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses nan and inf: `nan < 1` is false, so a plain range lets it in,
    and `--timeout nan` then failed every job."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; write e.g. 600 or 2.5", param, ctx)
        return super().convert(number, param, ctx)


if TYPE_CHECKING:
    from runner.plan.plan_model import Plan
    from runner.recipe.model import PriceTable

F = TypeVar("F", bound=Callable[..., Any])


def grouped(cls: type[Any], name: str) -> Callable[[F], F]:
    """Hand the command the options named like cls's fields as one frozen cls, called name.

    Click passes every option as a keyword; this keeps a command's signature (and body) short
    while the options, their names, defaults and help stay plain click options.
    """
    fields = [field.name for field in dataclasses.fields(cls)]

    def decorate(func: F) -> F:
        @functools.wraps(func)  # also carries the click options already attached
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = cls(**{field: kwargs.pop(field) for field in fields})
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


@dataclass(frozen=True)
class PlanInputs:
    """--output-dir, --max-jobs, --price and --allow-outside: how a recipe becomes a plan."""

    output_dir: str | None = None
    max_jobs: int | None = None
    prices: tuple[str, ...] = ()
    allow_outside: tuple[str, ...] = ()


def load_plan(
    recipe_path: str, inputs: PlanInputs | None = None, *, show_warnings: bool = True
) -> Plan:
    """The recipe's plan; its warnings are shown on stderr unless the caller shows them."""
    from runner.commands import terminal
    from runner.plan.planner import plan_recipe
    from runner.recipe.build import load_recipe

    inputs = inputs or PlanInputs()
    allowed = [Path(folder) for folder in inputs.allow_outside]
    recipe = load_recipe(Path(recipe_path), allow_outside=allowed)
    plan = plan_recipe(
        recipe,
        output_dir=Path(inputs.output_dir).resolve() if inputs.output_dir else None,
        max_jobs=inputs.max_jobs,
        prices=price_overrides(recipe.prices, inputs.prices) if inputs.prices else None,
        allow_outside=allowed,
    )
    if show_warnings:
        terminal.show_diagnostics(plan.warnings)
    return plan


def price_overrides(base: PriceTable, items: Sequence[str]) -> PriceTable:
    """--price high=0.2 (both shapes) or --price high:square=0.17 / low:non-square=0.02."""
    from runner.api.limits import QUALITIES
    from runner.recipe.model import PriceTable

    square, non_square = dict(base.square), dict(base.non_square)
    for item in items:
        what, sep, amount = item.partition("=")
        quality, _, shape = what.partition(":")
        try:
            usd = float(amount)
        except ValueError:
            usd = -1.0
        if not math.isfinite(usd):  # a NaN price would switch the money guard off
            usd = -1.0
        if not sep or quality not in QUALITIES or shape not in ("", "square", "non-square"):
            raise UsageError(
                f"--price {item!r} is not understood",
                hint="write QUALITY=USD or QUALITY:square=USD / QUALITY:non-square=USD, "
                "e.g. --price high=0.2",
            )
        if usd < 0:
            raise UsageError(f"--price {item!r}: {amount!r} is not a price in USD")
        if shape in ("", "square"):
            square[quality] = usd
        if shape in ("", "non-square"):
            non_square[quality] = usd
    return PriceTable(square=square, non_square=non_square)


def allow_outside_option(func: F) -> F:
    return click.option(
        "--allow-outside",
        multiple=True,
        metavar="FOLDER",
        help="Also read data files, images and a recipe linked from the project from FOLDER "
        "(by default only the recipe's folder or its git repository). Repeatable.",
    )(func)


def option_group(cls: type[Any], name: str, *options: Callable[[Any], Any]) -> Callable[[F], F]:
    """The options, in the order given (and shown in --help), handed over as one cls."""

    def decorate(func: F) -> F:
        func = grouped(cls, name)(func)
        for option in reversed(options):  # click lists the last one applied first
            func = option(func)
        return func

    return decorate


plan_options = option_group(
    PlanInputs,
    "inputs",
    click.option(
        "--output-dir",
        "-o",
        type=click.Path(),  # a file or device there is said by the planner, with what to do
        help="Output folder (default: out/<name>/ beside the recipe).",
    ),
    click.option(
        "--max-jobs",
        type=click.IntRange(min=1),
        help="Refuse recipes that expand to more jobs than this (default 10,000 or the "
        "recipe's max_jobs).",
    ),
    click.option(
        "--price",
        "prices",
        multiple=True,
        metavar="QUALITY[:SHAPE]=USD",
        help="Override a price per image for the estimate, e.g. high=0.2 or low:square=0.01.",
    ),
    allow_outside_option,
)


def csv_separator_option(func: F) -> F:
    return click.option(
        "--csv-separator",
        type=click.Choice([",", ";", "tab"]),
        default=",",
        show_default=True,
        help="Column separator of results.csv: ';' for French or German Excel.",
    )(func)


def output_folder(target: str, command: str) -> Path:
    """An output folder as given, or the one a recipe writes to (planned, nothing spent)."""
    import os

    path = Path(target)
    if not os.path.exists(path):
        what = "recipe" if path.suffix.lower() in (".yaml", ".yml") else "folder"
        raise UsageError(
            f"the {what} {target} does not exist",
            hint="pass the output folder of a run (the one with backdrop.lock), e.g. backdrop"
            f" {command} out/spring-campaign, or its recipe:"
            f" backdrop {command} spring-campaign.yaml",
        )
    if path.is_dir():
        return path
    if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
        what = "a file" if path.is_file() else "a device, a pipe or a socket"
        raise UsageError(
            f"{target!r} is {what}, neither an output folder nor a recipe",
            hint=f"pass the folder with backdrop.lock, e.g. backdrop {command} "
            f"out/spring-campaign, or the recipe: backdrop {command} spring-campaign.yaml",
        )
    return load_plan(target).output_dir


def folder_or_recipe_folder(target: str) -> Path:
    """`target` as a folder, or when it is a recipe, the output folder it writes to."""
    path = Path(target)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return load_plan(target).output_dir
    return path
