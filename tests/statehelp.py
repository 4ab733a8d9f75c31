"""Builds small Plans for the state and run-engine tests (no recipe stage involved)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from runner.plan.plan_model import ImageSource, Job, Plan, PromptObject
from runner.recipe.model import DEFAULT_PRICES, ReportLayout


def make_job(index: int, *, prompt: str = "a beach", n: int = 1, season: str = "summer") -> Job:
    sha = hashlib.sha256(b"source image").hexdigest()
    key = hashlib.sha256(f"{prompt}|{index}|{n}|{season}".encode()).hexdigest()[:16]
    return Job(
        key=key,
        index=index,
        vars={"product": f"P{index}", "season": season},
        label=f"product=P{index} season={season}",
        image=ImageSource("file", "images/mug.png", Path("/src/images/mug.png"), sha, "image/png"),
        prompt_object=PromptObject(prompt, "1024x1024", n, "low", "png", 100),
        outputs=tuple(f"{season}/P{index}-{i}.png" for i in range(n)),
    )


def make_plan(output_dir: Path, count: int = 3, *, prompt: str = "a beach", n: int = 1) -> Plan:
    jobs = tuple(make_job(i, prompt=prompt, n=n) for i in range(count))
    return Plan(
        recipe_name="demo",
        recipe_path=Path("/src/recipe.yaml"),
        output_dir=output_dir,
        axes=("product", "season"),
        jobs=jobs,
        prices=DEFAULT_PRICES,
        report=ReportLayout(rows="product", columns="season"),
    )
