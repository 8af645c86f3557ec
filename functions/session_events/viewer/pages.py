"""The operator's viewer: the dashboard and session pages as HTML with inline SVG, no script.

Every value that reaches a page is escaped (`viewer_text.text`); nothing on a page asks
the browser for another resource (styles inline, the icon an empty `data:` URL), so the
pages render under `Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';
img-src data:`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from session_events.viewer.charts import daily_chart, mini_bar, session_strip
from session_events.viewer.text import (
    count,
    dashboard_href,
    num,
    parse_day,
    ref_anchor,
    ref_href,
    session_href,
    text,
    when,
)

Row = Mapping[str, Any]

DAYS_CHOICES = (1, 7, 28, 90)

_CSS = """
:root{--ink:#0f172a;--muted:#5b6475;--line:#e2e8f0;--soft:#f1f5f9;--bg:#f6f7f9;
--ident:#3730a3;--sess:#a5b4fc;--supp:#94a3b8;--mark:#b45309}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--ident)}
a:focus-visible{outline:2px solid var(--mark);outline-offset:2px}
.top{background:var(--ink);color:#fff;padding:0 24px}
.top .in{max-width:1160px;margin:0 auto;display:flex;align-items:center;gap:16px;height:52px}
.brand{font-weight:650;letter-spacing:.01em;color:#fff;text-decoration:none}
.brand small{font-weight:400;color:#cbd5e1;margin-left:8px}
.top .meta{margin-left:auto;color:#cbd5e1;font-size:13px}
main{max-width:1160px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px;font-weight:650}
.sub{color:var(--muted);margin:0 0 20px}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 20px;
margin:0 0 20px}
.card h2{font-size:15px;margin:0 0 2px;font-weight:650}
.card .note{color:var(--muted);font-size:13px;margin:0 0 12px}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:16px;
margin:0 0 20px}
.stat{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px}
.stat .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.05em}
.stat .value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums}
.stat .hint{color:var(--muted);font-size:12px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:20px}
.grid2 .card{margin:0 0 20px;min-width:0}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
caption{text-align:left;color:var(--muted);font-size:13px;padding:0 0 8px}
th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;letter-spacing:.04em;
text-transform:uppercase;border-bottom:1px solid var(--line);padding:6px 8px;white-space:nowrap}
td{border-bottom:1px solid var(--soft);padding:7px 8px;vertical-align:middle}
tr:last-child td{border-bottom:0}
.num{text-align:right;white-space:nowrap}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
tr:target td{background:#fef3c7}
.bar{display:inline-block;vertical-align:middle;margin-left:8px}
.tag{display:inline-block;border:1px solid var(--supp);color:var(--muted);border-radius:999px;
padding:0 8px;font-size:12px;white-space:nowrap}
.chip{display:inline-block;background:var(--soft);border:1px solid var(--line);border-radius:6px;
padding:0 6px;margin:1px 4px 1px 0;font-size:12px;text-decoration:none;color:var(--ink)}
a.chip{color:var(--ident)}
.muted{color:var(--muted)}
.toolbar{display:flex;flex-wrap:wrap;gap:16px;align-items:center;margin:0 0 12px}
.seg{display:inline-flex;border:1px solid var(--line);border-radius:8px;overflow:hidden}
.seg a{padding:4px 12px;text-decoration:none;color:var(--ink);border-right:1px solid var(--line)}
.seg a:last-child{border-right:0}
.seg a[aria-current]{background:var(--ink);color:#fff;font-weight:600}
.seg-label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.05em;
margin-right:6px}
.pager{display:flex;justify-content:space-between;align-items:center;margin-top:12px}
.button{display:inline-block;border:1px solid var(--ink);border-radius:8px;padding:4px 14px;
text-decoration:none;color:var(--ink);font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:18px;color:var(--muted);font-size:13px;margin:8px 0 0}
.legend svg{vertical-align:-2px;margin-right:6px}
svg.chart{width:100%;height:auto;display:block}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--muted)}
svg .lbl{fill:var(--ink);font-weight:600}
svg a.related:hover circle,svg a.related:focus-visible circle{fill-opacity:1;stroke-width:2.5}
svg a.related:focus-visible{outline:none}
svg a.related:focus-visible circle{stroke:var(--mark)}
details{margin-top:10px}
summary{cursor:pointer;color:var(--muted);font-size:13px}
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:6px 24px;margin:0}
dl.fields dt{color:var(--muted)}
dl.fields dd{margin:0;overflow-wrap:anywhere}
.crumb{margin:0 0 12px;font-size:13px}
.empty{color:var(--muted);padding:18px 0;text-align:center}
.scroll{overflow-x:auto}
"""


# -- page frame ----------------------------------------------------------------------------


def _page(title: str, body: str, meta: str = "") -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'
        f"<title>{text(title)}</title><style>{_CSS}</style></head><body>"
        '<header class="top"><div class="in">'
        '<a class="brand" href="/admin/">session-events<small>operator view</small></a>'
        f'<span class="meta">{meta}</span></div></header>'
        f"<main>{body}</main></body></html>\n"
    )


def _daily_table(rows: Sequence[Row], k: int) -> str:
    body = "".join(
        f'<tr data-day="{text(row.get("day", ""))}"><td>{text(row.get("day", ""))}</td>'
        f'<td class="num identities">{num(row.get("identities"))}</td>'
        f'<td class="num sessions">{num(row.get("sessions"))}</td>'
        f"<td>{f'<span class=tag>fewer than K = {k}</span>' if row.get('suppressed') else ''}"
        "</td></tr>"
        for row in sorted(rows, key=lambda row: str(row.get("day", "")), reverse=True)
    )
    return (
        "<details><summary>The same figures as a table</summary>"
        '<table class="daily"><thead><tr><th>Day (UTC)</th><th class="num">Identities</th>'
        f'<th class="num">Sessions</th><th>Note</th></tr></thead><tbody>{body}</tbody></table>'
        "</details>"
    )


# -- tables --------------------------------------------------------------------------------


def _pair(stats: object, key: str) -> object:
    return stats.get(key) if isinstance(stats, Mapping) else None


def _versions_table(versions: Sequence[Row], k: int) -> str:
    if not versions:
        return '<p class="empty">No plugin versions in the last 28 days.</p>'
    largest = max(count(row.get("identities")) for row in versions)
    rows = []
    for row in versions:
        version = text(row.get("version", ""))
        if row.get("suppressed"):
            rows.append(
                f'<tr class="suppressed"><td class="mono">{version}</td>'
                f'<td colspan="4"><span class="tag">fewer than K = {k} identities</span></td></tr>'
            )
            continue
        tools, tokens = row.get("tool_count"), row.get("tokens_saved")
        rows.append(
            f'<tr><td class="mono">{version}</td>'
            f'<td class="num identities">{num(row.get("identities"))}'
            f"{mini_bar(row.get('identities'), largest, 'share of identities')}</td>"
            f'<td class="num sessions">{num(row.get("sessions"))}</td>'
            f'<td class="num tools">{num(_pair(tools, "p50"))} / {num(_pair(tools, "p90"))}</td>'
            f'<td class="num tokens">{num(_pair(tokens, "p50"))} / {num(_pair(tokens, "p90"))}</td>'
            "</tr>"
        )
    return (
        '<div class="scroll"><table class="versions">'
        '<thead><tr><th>Version</th><th class="num">Identities</th>'
        '<th class="num">Sessions</th><th class="num">Tools p50 / p90</th>'
        '<th class="num">Tokens saved p50 / p90</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _refs_table(refs: Sequence[Row], k: int) -> str:
    if not refs:
        return f'<p class="empty">No discovery ref reached K = {k} identities in 28 days.</p>'
    largest = max(count(row.get("identities")) for row in refs)
    days = [d for row in refs for d in (parse_day(row.get("last_seen_day")),) if d is not None]
    end = max(days) if days else None
    rows = []
    for row in refs:
        ref = row.get("ref", "")
        rows.append(
            f'<tr id="{text(ref_anchor(ref))}"><td class="mono">{text(ref)}</td>'
            f'<td class="num identities">{num(row.get("identities"))}'
            f"{mini_bar(row.get('identities'), largest, 'share of identities')}</td>"
            f'<td class="num sessions">{num(row.get("sessions"))}</td>'
            f"<td>{_seen_span(row, end)}</td></tr>"
        )
    return (
        '<div class="scroll"><table class="refs">'
        '<thead><tr><th>Ref</th><th class="num">Identities</th>'
        '<th class="num">Sessions</th><th>Seen (28 days)</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _seen_span(row: Row, end: datetime | None) -> str:
    """First and last day seen, drawn as a span on a 28-day lane ending at `end`."""
    first, last = parse_day(row.get("first_seen_day")), parse_day(row.get("last_seen_day"))
    seen = f"{text(row.get('first_seen_day', ''))} → {text(row.get('last_seen_day', ''))}"
    if first is None or last is None or end is None:
        return f'<span class="muted">{seen}</span>'
    start = end - timedelta(days=27)

    def x(day: datetime) -> float:
        return 2 + 3 * min(max((day - start).days, 0), 27)

    return (
        f'<svg class="bar" width="88" height="10" viewBox="0 0 88 10" role="img" '
        f'aria-label="seen {seen}" style="margin:0 8px 0 0"><title>{seen}</title>'
        '<rect x="0" y="1" width="88" height="8" rx="2" fill="#eef0f4"/>'
        f'<rect x="{x(first):.0f}" y="1" width="{x(last) - x(first) + 3:.0f}" height="8" '
        'rx="2" fill="#3730a3"/></svg>'
        f'<span class="muted">{seen}</span>'
    )


def _refs_cell(refs: object, linked: set[str] | None) -> str:
    if not isinstance(refs, list | tuple) or not refs:
        return '<span class="muted">—</span>'
    chips = []
    for ref in refs:
        if linked is None or str(ref) in linked:
            chips.append(
                f'<a class="chip mono" href="{text(ref_href(ref))}" '
                f'title="Ref {text(ref)} in the refs table">{text(ref)}</a>'
            )
        else:
            chips.append(
                f'<span class="chip mono" title="Below K identities: no row">{text(ref)}</span>'
            )
    return "".join(chips)


def _sessions_table(sessions: Sequence[Row], linked_refs: set[str] | None) -> str:
    largest = max((count(row.get("tool_count")) for row in sessions), default=0.0)
    rows = []
    for row in sessions:
        href = text(session_href(row.get("session_id_hash", "")))
        github = row.get("github")
        rows.append(
            f'<tr data-session="{text(row.get("session_id_hash", ""))}">'
            f'<td><a href="{href}">{when(row.get("ended_at"))}</a></td>'
            f'<td class="mono identity">{text(row.get("identity", ""))}</td>'
            + (
                f'<td class="mono github">{text(github)}</td>'
                if github is not None
                else '<td class="github"><span class="muted">anonymous</span></td>'
            )
            + f'<td class="num tools">{num(row.get("tool_count"))}'
            f"{mini_bar(row.get('tool_count'), largest, 'tool count')}</td>"
            f'<td class="num tokens">{num(row.get("tokens_saved"))}</td>'
            f'<td class="mono">{text(row.get("branch_sha") or "—")}</td>'
            f"<td>{_refs_cell(row.get('discovery_refs'), linked_refs)}</td>"
            f'<td><a href="{href}" aria-label="Open session graph">Graph&nbsp;→</a></td></tr>'
        )
    return (
        '<div class="scroll"><table class="sessions">'
        "<thead><tr><th>Ended</th><th>Identity</th><th>GitHub</th>"
        '<th class="num">Tools</th><th class="num">Tokens saved</th><th>Branch</th>'
        f"<th>Refs</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _segmented(label: str, items: Iterable[tuple[str, str, bool]]) -> str:
    links = "".join(
        f'<a href="{text(href)}"{" aria-current=page" if current else ""}>{text(name)}</a>'
        for name, href, current in items
    )
    return (
        f'<nav aria-label="{text(label)}"><span class="seg-label" aria-hidden="true">'
        f'{text(label)}</span><span class="seg">{links}</span></nav>'
    )


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
    published = [row for row in daily if not row.get("suppressed")]
    latest = max(published, key=lambda row: str(row.get("day", "")), default=None)
    shown_versions = [row for row in versions if not row.get("suppressed")]
    stats = (
        '<div class="stats">'
        + _stat(
            "Sessions",
            num(total_count_in_window),
            f"ended in the last {num(days)} day{'s' if days != 1 else ''}"
            + ("" if logged_in is None else (", logged in" if logged_in else ", anonymous")),
        )
        + _stat(
            "Identities, latest day",
            num(latest.get("identities")) if latest else "—",
            text(latest.get("day", "")) if latest else "no published day yet",
        )
        + _stat("Plugin versions", num(len(shown_versions)), f"at ≥ {k} identities, 28 days")
        + _stat("Discovery refs", num(len(refs)), f"at ≥ {k} identities, 28 days")
        + "</div>"
    )
    chart = (
        daily_chart(daily, k) + _daily_table(daily, k)
        if daily
        else '<p class="empty">No rollups yet: run the rollup job (<code>make rollup</code>).</p>'
    )
    filters = _segmented(
        "Show",
        [
            ("All", dashboard_href(days, None), logged_in is None),
            ("Logged in", dashboard_href(days, True), logged_in is True),
            ("Anonymous", dashboard_href(days, False), logged_in is False),
        ],
    )
    choices = sorted({*DAYS_CHOICES, days})
    windows = _segmented(
        "Window",
        [(f"{d} d", dashboard_href(d, logged_in), d == days) for d in choices],
    )
    linked = {str(row.get("ref")) for row in refs}
    listing = (
        _sessions_table(sessions, linked)
        if sessions
        else '<p class="empty">No sessions in this window.</p>'
    )
    pager = (
        f'<div class="pager"><span class="muted">{num(len(sessions))} shown of '
        f"{num(total_count_in_window)}</span>"
        + (
            f'<a class="button" rel="next" '
            f'href="{text(dashboard_href(days, logged_in, next_cursor))}">Next page →</a>'
            if next_cursor
            else ""
        )
        + "</div>"
    )
    body = (
        "<h1>Sessions at a glance</h1>"
        f'<p class="sub">Rollup figures are exact; public statistics hide anything about fewer '
        f"than K = {k} identities. Times in UTC.</p>"
        + stats
        + '<section class="card" aria-labelledby="daily-h"><h2 id="daily-h">Daily activity</h2>'
        '<p class="note">Distinct identities and sessions per UTC day, from the latest rollup.</p>'
        + chart
        + "</section>"
        '<section class="card" aria-labelledby="versions-h">'
        '<h2 id="versions-h">Plugin versions</h2><p class="note">Last 28 days.</p>'
        + _versions_table(versions, k)
        + '</section><section class="card" aria-labelledby="refs-h">'
        f'<h2 id="refs-h">Discovery refs</h2><p class="note">Last 28 days; only refs used by '
        f"K = {k} identities or more are named.</p>" + _refs_table(refs, k) + "</section>"
        '<section class="card" aria-labelledby="sessions-h"><h2 id="sessions-h">Sessions</h2>'
        '<p class="note">Newest first. Open a session to see its identity\'s last 30 days.</p>'
        f'<div class="toolbar">{filters}{windows}</div>' + listing + pager + "</section>"
    )
    return _page("Dashboard · session-events", body, meta=f"K = {k}")


def _stat(label: str, value: str, hint: str) -> str:
    return (
        f'<div class="stat"><div class="label">{text(label)}</div>'
        f'<div class="value">{value}</div><div class="hint">{hint}</div></div>'
    )


def render_session(*, session: dict[str, Any], related: list[dict[str, Any]]) -> str:
    """One session's page: its fields and its identity's 30-day strip, this one marked."""
    github = session.get("github")
    fields = [
        ("Ended", when(session.get("ended_at"))),
        ("Identity", f'<span class="mono">{text(session.get("identity", ""))}</span>'),
        (
            "GitHub",
            f'<span class="mono">{text(github)}</span>'
            if github is not None
            else '<span class="muted">anonymous</span>',
        ),
        ("Tools", num(session.get("tool_count"))),
        ("Tokens saved", num(session.get("tokens_saved"))),
        ("Branch", f'<span class="mono">{text(session.get("branch_sha") or "—")}</span>'),
        ("Discovery refs", _refs_cell(session.get("discovery_refs"), None)),
        ("Session", f'<span class="mono">{text(session.get("session_id_hash", ""))}</span>'),
    ]
    details = "".join(f"<dt>{text(name)}</dt><dd>{value}</dd>" for name, value in fields)
    newest_first = sorted(related, key=lambda row: str(row.get("ended_at", "")), reverse=True)
    earlier = (
        _sessions_table(newest_first, None)
        if related
        else '<p class="empty">No other session of this identity in the 30 days before.</p>'
    )
    identity = text(session.get("identity", ""))
    body = (
        '<p class="crumb"><a href="/admin/">← Dashboard</a></p>'
        f'<h1>Session of <span class="mono">{identity}</span></h1>'
        f'<p class="sub">Ended {when(session.get("ended_at"))}.</p>'
        '<section class="card" aria-labelledby="strip-h">'
        '<h2 id="strip-h">The last 30 days of this identity</h2>'
        f'<p class="note">{num(len(related))} earlier session{"s" if len(related) != 1 else ""}'
        " in the 30 days before this one; select a circle to open that session.</p>"
        + session_strip(session, related)
        + "</section>"
        '<div class="grid2"><section class="card" aria-labelledby="fields-h">'
        f'<h2 id="fields-h">This session</h2><dl class="fields">{details}</dl></section>'
        '<section class="card" aria-labelledby="related-h"><h2 id="related-h">Totals over '
        "the strip</h2>" + _totals(session, related) + "</section></div>"
        '<section class="card" aria-labelledby="earlier-h"><h2 id="earlier-h">Earlier '
        "sessions</h2>" + earlier + "</section>"
    )
    return _page(f"Session {session.get('identity', '')} · session-events", body)


def _totals(session: Row, related: Sequence[Row]) -> str:
    everyone = [session, *related]
    tools = sum(int(count(row.get("tool_count"))) for row in everyone)
    tokens = sum(int(count(row.get("tokens_saved"))) for row in everyone)
    refs = sorted(
        {str(ref) for row in everyone for ref in (row.get("discovery_refs") or []) if ref}
    )
    return (
        '<dl class="fields">'
        f"<dt>Sessions</dt><dd>{num(len(everyone))}</dd>"
        f"<dt>Tools</dt><dd>{num(tools)}</dd>"
        f"<dt>Tokens saved</dt><dd>{num(tokens)}</dd>"
        f"<dt>Distinct refs</dt><dd>{_refs_cell(refs, None)}</dd></dl>"
    )
