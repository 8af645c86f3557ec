"""The viewer on Jinja2: every template compiles, a name a page forgot is an error, and the
templates cost ingest nothing (neither imported nor compiled on its path)."""

from __future__ import annotations

import json
import subprocess
import sys

import jinja2
import pytest
from support import MAIN, ROOT, event

from session_events.viewer.rendering import TEMPLATES, environment, render

PAGES = ("dashboard.html", "session.html")


def test_every_template_compiles() -> None:
    names = sorted(path.name for path in TEMPLATES.iterdir() if path.is_file())
    assert {"base.html", *PAGES} <= set(names)
    for name in names:
        assert environment().get_template(name) is not None


@pytest.mark.parametrize("page", PAGES)
def test_a_value_the_page_was_not_given_is_an_error_not_an_empty_cell(page: str) -> None:
    with pytest.raises(jinja2.UndefinedError):
        render(page)


def _modules_after(script: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"SESSION_EVENTS_STORE": "memory", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_ingest_neither_imports_the_viewer_nor_adds_jinja2() -> None:
    """A cold instance answers its first 202 without the viewer; Jinja2 came with Flask."""
    script = f"""
import json, sys
import functions_framework
jinja2_with_flask = "jinja2" in sys.modules
app = functions_framework.create_app(target="session_events", source={MAIN!r})
answer = app.test_client().post("/v1/session-events", json={json.dumps(event())})
print(json.dumps({{
    "status": answer.status_code,
    "jinja2_with_flask": jinja2_with_flask,
    "read_side": sorted(m for m in sys.modules
                        if m.startswith(("session_events.viewer", "session_events.read"))),
}}))
"""
    found = _modules_after(script)
    assert found["status"] == 202
    assert found["jinja2_with_flask"] is True
    assert found["read_side"] == []


def test_the_templates_are_compiled_on_the_first_page_not_at_import() -> None:
    script = """
import json, sys
sys.path.insert(0, "functions")
from session_events.viewer import pages, rendering
before = rendering.environment.cache_info().currsize
page = pages.render_session(session={"identity": "u-x", "ended_at": "2026-11-20T10:00:00Z"},
                            related=[])
print(json.dumps({"before": before, "after": rendering.environment.cache_info().currsize,
                  "rendered": "Session of" in page}))
"""
    assert _modules_after(script) == {"before": 0, "after": 1, "rendered": True}
