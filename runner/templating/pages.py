"""The environment for our own HTML pages (report.html, the review page), built in one place.

Not the recipe templates' environment: these templates are our code, render no recipe text as a
template, and must not meet the per-recipe size limits. Sandboxed and strict all the same, and
autoescaped, which is what makes a forgotten escape impossible: only `|safe`, where a reviewer
sees it, lets markup through.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Template


@cache
def page_template(package: str, name: str) -> Template:
    """`name` from `package`'s templates/ folder, e.g. ("runner.report", "report.html.j2")."""
    from jinja2 import PackageLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=PackageLoader(package, "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )
    return env.get_template(name)
