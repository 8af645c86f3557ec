"""The public statistics page (`GET /stats/`): the weekly releases as HTML, no script.

Rendered from templates/public_stats.html by the viewer's Jinja2 environment (autoescaping
on), so no value from a release (a version or ref name) can become markup; the page asks
for nothing else, so it renders under the viewer's Content-Security-Policy.
"""

from __future__ import annotations

from typing import Any

from session_events.viewer.rendering import render


def render_public_stats(
    *, privacy: dict[str, Any], weeks: list[dict[str, Any]], selected: dict[str, Any] | None
) -> str:
    """The page: recent weeks (released or pending), one release's keys, the privacy terms."""
    return render("public_stats.html", privacy=privacy, weeks=weeks, selected=selected)
