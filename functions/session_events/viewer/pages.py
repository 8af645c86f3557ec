"""The operator's pages: the rows, links and figures each page shows, rendered by its template.

The routes hand over plain data (the operator API's session objects and rollup rows); this
module shapes it for templates/dashboard.html and templates/session.html, which Jinja2
renders with autoescaping on, so every value reaches the page as text. Nothing on a page
asks the browser for another resource (styles inline, the icon an empty `data:` URL): the
pages render under `Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';
img-src data:`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from session_events.viewer.charts import (
    MiniBar,
    SeenSpan,
    daily_chart,
    is_computed,
    mini_bar,
    seen_span,
    session_strip,
)
from session_events.viewer.rendering import render
from session_events.viewer.text import (
    DASH,
    count,
    dashboard_href,
    num,
    parse_day,
    plural,
    ref_anchor,
    ref_href,
    session_href,
)

Row = Mapping[str, Any]

DAYS_CHOICES = (1, 7, 28, 90)


@dataclass(frozen=True, slots=True)
class Chip:
    """A discovery ref in a cell: a link to its row on the dashboard, or plain (no row)."""

    ref: str
    href: str | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session as a table row or a page's fields show it."""

    session_id_hash: str
    href: str
    ended_at: object
    identity: str
    github: str | None
    tool_count: object
    tokens_saved: object
    branch_sha: str
    refs: list[Chip]
    bar: MiniBar


@dataclass(frozen=True, slots=True)
class Stat:
    label: str
    value: str
    hint: str


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: str
    suppressed: bool
    identities: object = None
    sessions: object = None
    tools_p50: object = None
    tools_p90: object = None
    tokens_p50: object = None
    tokens_p90: object = None
    bar: MiniBar | None = None


@dataclass(frozen=True, slots=True)
class RefRow:
    ref: str
    anchor: str
    identities: object
    sessions: object
    bar: MiniBar
    seen: SeenSpan


@dataclass(frozen=True, slots=True)
class Totals:
    sessions: int
    tools: int
    tokens: int
    refs: list[Chip]


# -- rows ----------------------------------------------------------------------------------


def _chips(refs: object, linked: set[str] | None) -> list[Chip]:
    """The refs of a session; those with a row (all when `linked` is None) become links."""
    if not isinstance(refs, list | tuple):
        return []
    return [
        Chip(str(ref), ref_href(ref) if linked is None or str(ref) in linked else None)
        for ref in refs
    ]


def session_row(row: Row, largest: float, linked_refs: set[str] | None) -> SessionRow:
    github = row.get("github")
    return SessionRow(
        session_id_hash=str(row.get("session_id_hash", "")),
        href=session_href(row.get("identity", ""), row.get("session_id_hash", "")),
        ended_at=row.get("ended_at"),
        identity=str(row.get("identity", "")),
        github=None if github is None else str(github),
        tool_count=row.get("tool_count"),
        tokens_saved=row.get("tokens_saved"),
        branch_sha=str(row.get("branch_sha") or DASH),
        refs=_chips(row.get("discovery_refs"), linked_refs),
        bar=mini_bar(row.get("tool_count"), largest, "tool count"),
    )


def session_rows(sessions: Sequence[Row], linked_refs: set[str] | None) -> list[SessionRow]:
    largest = max((count(row.get("tool_count")) for row in sessions), default=0.0)
    return [session_row(row, largest, linked_refs) for row in sessions]


def _pair(stats: object, key: str) -> object:
    return stats.get(key) if isinstance(stats, Mapping) else None


def version_rows(versions: Sequence[Row]) -> list[VersionRow]:
    largest = max((count(row.get("identities")) for row in versions), default=0.0)
    rows = []
    for row in versions:
        version = str(row.get("version", ""))
        if row.get("suppressed"):
            rows.append(VersionRow(version, suppressed=True))
            continue
        tools, tokens = row.get("tool_count"), row.get("tokens_saved")
        rows.append(
            VersionRow(
                version,
                suppressed=False,
                identities=row.get("identities"),
                sessions=row.get("sessions"),
                tools_p50=_pair(tools, "p50"),
                tools_p90=_pair(tools, "p90"),
                tokens_p50=_pair(tokens, "p50"),
                tokens_p90=_pair(tokens, "p90"),
                bar=mini_bar(row.get("identities"), largest, "share of identities"),
            )
        )
    return rows


def ref_rows(refs: Sequence[Row]) -> list[RefRow]:
    largest = max((count(row.get("identities")) for row in refs), default=0.0)
    days = [d for row in refs for d in (parse_day(row.get("last_seen_day")),) if d is not None]
    end = max(days) if days else None
    return [
        RefRow(
            ref=str(row.get("ref", "")),
            anchor=ref_anchor(row.get("ref", "")),
            identities=row.get("identities"),
            sessions=row.get("sessions"),
            bar=mini_bar(row.get("identities"), largest, "share of identities"),
            seen=seen_span(row.get("first_seen_day", ""), row.get("last_seen_day", ""), end),
        )
        for row in refs
    ]


# -- pages ---------------------------------------------------------------------------------


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
    """The operator's dashboard: daily chart, versions, refs and one page of sessions."""
    k, days = int(k), int(days)
    computed = [row for row in daily if is_computed(row)]
    latest = max(computed, key=lambda row: str(row.get("day", "")), default=None)
    shown_versions = [row for row in versions if not row.get("suppressed")]
    window_hint = f"ended in the last {plural(days, 'day')}" + (
        "" if logged_in is None else (", logged in" if logged_in else ", anonymous")
    )
    stats = [
        Stat("Sessions", num(total_count_in_window), window_hint),
        Stat(
            "Identities, latest day",
            num(latest.get("identities")) if latest else DASH,
            str(latest.get("day", "")) if latest else "no day computed yet",
        ),
        Stat("Plugin versions", num(len(shown_versions)), f"at ≥ {k} identities, 28 days"),
        Stat("Discovery refs", num(len(refs)), f"at ≥ {k} identities, 28 days"),
    ]
    filters = [
        Link("All", dashboard_href(days, None), logged_in is None),
        Link("Logged in", dashboard_href(days, True), logged_in is True),
        Link("Anonymous", dashboard_href(days, False), logged_in is False),
    ]
    windows = [
        Link(f"{d} d", dashboard_href(d, logged_in), d == days)
        for d in sorted({*DAYS_CHOICES, days})
    ]
    linked = {str(row.get("ref")) for row in refs}
    return render(
        "dashboard.html",
        k=k,
        stats=stats,
        chart=daily_chart(daily) if daily else None,
        daily_rows=[
            {**row, "computed": is_computed(row)}
            for row in sorted(daily, key=lambda row: str(row.get("day", "")), reverse=True)
        ],
        versions=version_rows(versions),
        refs=ref_rows(refs),
        filters=filters,
        windows=windows,
        sessions=session_rows(sessions, linked),
        total_count_in_window=total_count_in_window,
        next_href=dashboard_href(days, logged_in, next_cursor) if next_cursor else None,
    )


def render_session(*, session: dict[str, Any], related: list[dict[str, Any]]) -> str:
    """One session's page: its fields and its identity's 30-day strip, this one marked."""
    everyone = [session, *related]
    newest_first = sorted(related, key=lambda row: str(row.get("ended_at", "")), reverse=True)
    refs = sorted(
        {str(ref) for row in everyone for ref in (row.get("discovery_refs") or []) if ref}
    )
    totals = Totals(
        sessions=len(everyone),
        tools=sum(int(count(row.get("tool_count"))) for row in everyone),
        tokens=sum(int(count(row.get("tokens_saved"))) for row in everyone),
        refs=_chips(refs, None),
    )
    strip = session_strip(session, related)
    if strip is None:
        note = f"{plural(len(related), 'earlier session')} in the 30 days before this one."
    else:
        note = f"{plural(len(strip.circles), 'earlier session')} in the 30 days before this one"
        if strip.not_drawn:
            note += f", and {strip.not_drawn:,} without a usable end time (listed, not drawn)"
        note += "; select a circle to open that session."
    return render(
        "session.html",
        session=session_row(session, count(session.get("tool_count")), None),
        strip_note=note,
        strip=strip,
        totals=totals,
        earlier=session_rows(newest_first, None),
    )


def render_error(status: int, code: str) -> str:
    """The page of an operator route's error: what happened and what to do about it."""
    if status == 503 and code == "disabled":
        kind = "no_token"
    elif status == 401:
        kind = "sign_in"
    elif status == 404:
        kind = "not_found"
    elif status == 503:
        kind = "unavailable"
    else:
        kind = "error"
    return render("admin_error.html", kind=kind, status=status)
