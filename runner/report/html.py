"""report.html: a contact sheet that opens from disk, with no server and no network.

The page is rendered from templates/report.html.j2 with autoescaping on, so every value from a
recipe (names, prompts, matrix values, paths, error messages) is escaped, in text and attributes
alike, unless the template says `|safe` where a reviewer sees it (only the page's own stylesheet
and script do). The page carries no recipe data for scripts: the filters work on small integer
indexes, and a Content-Security-Policy only lets the page's own inline script and style run, as
a second line of defence. What the page shows is decided in html_view.py.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources
from typing import TYPE_CHECKING

from runner.records.run_records import RunSnapshot
from runner.report.context import ReportContext
from runner.report.html_view import build_page, href
from runner.templating.pages import page_template

if TYPE_CHECKING:
    pass

__all__ = ["HtmlReport", "href", "render_html"]


class HtmlReport:
    filename = "report.html"
    in_merged_report = True

    def render(self, snapshot: RunSnapshot, context: ReportContext) -> bytes:
        return render_html(snapshot, context).encode("utf-8")


def render_html(snapshot: RunSnapshot, context: ReportContext) -> str:
    style = _asset("report.css")
    script = _asset("report.js")
    page = build_page(snapshot, context.output_dir, context.thumbs, context.source_thumbs)
    template = page_template("runner.report", "report.html.j2")
    return template.render(page=page, csp=_csp(style, script), style=style, script=script)


def _asset(name: str) -> str:
    return resources.files("runner.report").joinpath("assets", name).read_text(encoding="utf-8")


def _csp(style: str, script: str) -> str:
    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")

    return (
        "default-src 'none'; img-src 'self' file: data:; "
        f"style-src 'sha256-{digest(style)}'; script-src 'sha256-{digest(script)}'; "
        "base-uri 'none'; form-action 'none'"
    )
