"""The operator's HTML pages (placeholder): plain escaped tables until the graph viewer lands."""

from __future__ import annotations

import html
import json
from typing import Any


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )


def _pre(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2))}</pre>"


def render_dashboard(
    *,
    k: int,
    daily: list[dict[str, Any]],
    versions: list[dict[str, Any]],
    refs: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    total_count_in_window: int,
    logged_in: bool | None,
    days: int,
    next_cursor: str | None,
) -> str:
    links = "".join(
        f'<li><a href="sessions/{html.escape(s["session_id_hash"])}/view">'
        f"{html.escape(s['ended_at'])} {html.escape(s['identity'])}</a></li>"
        for s in sessions
    )
    body = (
        f"<h1>session-events</h1><p>K = {k}; {days} days; "
        f"{total_count_in_window} sessions</p><h2>Daily</h2>{_pre(daily)}"
        f"<h2>Versions</h2>{_pre(versions)}<h2>Refs</h2>{_pre(refs)}"
        f"<h2>Sessions</h2><ul>{links}</ul>"
    )
    return _page("session-events", body)


def render_session(*, session: dict[str, Any], related: list[dict[str, Any]]) -> str:
    body = f"<h1>Session</h1>{_pre(session)}<h2>Related</h2>{_pre(related)}"
    return _page("session", body)
