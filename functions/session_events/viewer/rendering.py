"""The viewer's Jinja2 environment: the templates of viewer/templates/, built on first use.

Autoescaping is on for every template, so every value a page prints reaches it as text; a
name a template uses that its page did not pass is an error (StrictUndefined), never an
empty string. Nothing is built or compiled at import: the first page builds the
environment, and each template is compiled once per instance.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from session_events.viewer.text import num, when

TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    """The one environment of this instance (templates are read once: auto_reload is off)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["num"] = num
    env.filters["when"] = when
    return env


def render(template: str, **context: Any) -> str:
    """The page `template` (a file of viewer/templates/) rendered with `context`."""
    return environment().get_template(template).render(**context)
