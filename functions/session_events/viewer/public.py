"""The public statistics page (`GET /stats/`): the weekly releases as HTML, no script.

Rendered by Jinja2 from templates/public_stats.html with autoescaping on, so no value from
a release (a version or ref name) can become markup; the page asks for nothing else, so it
renders under the viewer's Content-Security-Policy.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_public_stats(
    *, privacy: dict[str, Any], weeks: list[dict[str, Any]], selected: dict[str, Any] | None
) -> str:
    """The page: recent weeks (released or pending), one release's keys, the privacy terms."""
    template = _environment().get_template("public_stats.html")
    return template.render(privacy=privacy, weeks=weeks, selected=selected)
