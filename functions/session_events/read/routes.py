"""HTTP edge of the read side: the rollup job, public statistics and the operator's view.

`http.handle` hands over every path under its READ_PREFIXES; this module routes, checks the
part's token, answers JSON (or HTML for the two viewer pages) and logs one line, with the
same error envelope as the ingest routes. A session hash never reaches the log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from flask import Request, Response

from session_events.core.displayid import DisplayIds
from session_events.core.environment import read_together
from session_events.core.errors import IngestError, MethodNotAllowed, NotFound
from session_events.core.exchange import Exchange, serve
from session_events.read import operator, public
from session_events.read.access import require_job_token, require_read_token
from session_events.read.queryparams import (
    DashboardQuery,
    RollupsQuery,
    SessionsQuery,
    WeekQuery,
    WeeksQuery,
    parse_query,
)
from session_events.read.settings import ReadSettings
from session_events.rollups.job import run_rollup
from session_events.runtime import Runtime, get_runtime
from session_events.stores.base import ReadStore

PUBLIC_CACHE = "public, max-age=300"
_GET = ("GET", "HEAD")


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] | None = None
    log: dict[str, Any] | None = None


@dataclass(frozen=True)
class Context:
    request: Request
    settings: ReadSettings
    runtime: Runtime
    match: re.Match[str]

    @property
    def store(self) -> ReadStore:
        store = self.runtime.store
        if not isinstance(store, ReadStore):
            raise IngestError("the configured store has no read side")
        return store

    def ids(self) -> DisplayIds:
        return DisplayIds(self.settings.read_token or "")


Handler = Callable[[Context], Answer]


def _job(ctx: Context) -> Answer:
    require_job_token(ctx.request, ctx.settings.job_token)
    result = run_rollup(ctx.store, days=ctx.settings.rollup_days, releases=ctx.settings.releases())
    return Answer(
        body={
            "ok": True,
            "days": result.days,
            "events": result.events,
            "released": result.released,
            "recomputed": result.recomputed,
        },
        log={
            "events": result.events,
            "released": len(result.released),
            "recomputed": len(result.recomputed),
        },
    )


def _public(ctx: Context) -> None:
    if not ctx.settings.public_stats:
        raise NotFound()


def _stats_weeks(ctx: Context) -> Answer:
    _public(ctx)
    query = parse_query(WeeksQuery, ctx.request.args)
    body = public.weeks(
        ctx.store, count=query.count, now=datetime.now(UTC), epsilon=ctx.settings.dp_epsilon
    )
    return Answer(body=body, headers={"Cache-Control": PUBLIC_CACHE})


def _stats_keyed(ctx: Context, kind: Literal["versions", "refs"]) -> Answer:
    _public(ctx)
    if "window" in ctx.request.args:
        raise NotFound()  # the windowed forms are gone
    query = parse_query(WeekQuery, ctx.request.args)
    body = public.keyed(
        ctx.store,
        kind=kind,
        week=query.iso_week,
        now=datetime.now(UTC),
        epsilon=ctx.settings.dp_epsilon,
    )
    return Answer(body=body, headers={"Cache-Control": PUBLIC_CACHE})


def _stats_versions(ctx: Context) -> Answer:
    return _stats_keyed(ctx, "versions")


def _stats_refs(ctx: Context) -> Answer:
    return _stats_keyed(ctx, "refs")


def _stats_page(ctx: Context) -> Answer:
    from session_events.viewer.public import render_public_stats

    _public(ctx)
    query = parse_query(WeekQuery, ctx.request.args)
    data = public.page(
        ctx.store,
        week=query.iso_week,
        now=datetime.now(UTC),
        epsilon=ctx.settings.dp_epsilon,
        delay_days=ctx.settings.release_delay_days,
    )
    return Answer(body=render_public_stats(**data), headers={"Cache-Control": PUBLIC_CACHE})


def _stats_root(ctx: Context) -> Answer:
    _public(ctx)
    return Answer(status=308, body={"ok": True}, headers={"Location": "/stats/"})


def _operator(ctx: Context, *, html: bool = False) -> None:
    require_read_token(ctx.request, ctx.settings.read_token, html=html)


def _sessions(ctx: Context) -> Answer:
    _operator(ctx)
    query = parse_query(SessionsQuery, ctx.request.args)
    body = operator.sessions(
        ctx.store,
        ctx.ids(),
        days=query.days,
        limit=query.limit,
        logged_in=query.logged_in_filter,
        after=query.after,
        today=operator.today_utc(),
    )
    return Answer(body=body)


def _session(ctx: Context) -> Answer:
    _operator(ctx)
    body = operator.session(ctx.store, ctx.ids(), ctx.match["hash"])
    if body is None:
        raise NotFound()
    return Answer(body=body)


def _identity_session(ctx: Context) -> Answer:
    _operator(ctx)
    body = operator.identity_session(ctx.store, ctx.ids(), ctx.match["identity"], ctx.match["hash"])
    if body is None:
        raise NotFound()
    return Answer(body=body)


def _rollups(ctx: Context) -> Answer:
    _operator(ctx)
    query = parse_query(RollupsQuery, ctx.request.args)
    body = operator.rollups(
        ctx.store,
        k=ctx.settings.publish_k,
        kind=query.kind,
        days=query.days,
        window_name=query.window,
        today=operator.today_utc(),
    )
    return Answer(body=body)


def _dashboard(ctx: Context) -> Answer:
    from session_events.viewer.pages import render_dashboard

    _operator(ctx, html=True)
    query = parse_query(DashboardQuery, ctx.request.args)
    data = operator.dashboard(
        ctx.store,
        ctx.ids(),
        k=ctx.settings.publish_k,
        days=query.days,
        limit=query.limit,
        logged_in=query.logged_in_filter,
        after=query.after,
        today=operator.today_utc(),
    )
    return Answer(body=render_dashboard(**data))


def _session_view(ctx: Context) -> Answer:
    _operator(ctx, html=True)
    return _session_page(operator.session(ctx.store, ctx.ids(), ctx.match["hash"]))


def _identity_session_view(ctx: Context) -> Answer:
    _operator(ctx, html=True)
    found = operator.identity_session(
        ctx.store, ctx.ids(), ctx.match["identity"], ctx.match["hash"]
    )
    return _session_page(found)


def _session_page(body: dict[str, Any] | None) -> Answer:
    from session_events.viewer.pages import render_session

    if body is None:
        raise NotFound()
    return Answer(body=render_session(session=body["session"], related=body["related"]))


def _admin_root(_ctx: Context) -> Answer:
    return Answer(status=308, body={"ok": True}, headers={"Location": "/admin/"})


# (pattern, route name for logs, methods, handler, answers HTML)
ROUTES: list[tuple[re.Pattern[str], str, tuple[str, ...], Handler, bool]] = [
    (re.compile(r"/v1/jobs/rollup"), "/v1/jobs/rollup", ("POST",), _job, False),
    (re.compile(r"/v1/stats/weeks"), "/v1/stats/weeks", _GET, _stats_weeks, False),
    (re.compile(r"/v1/stats/versions"), "/v1/stats/versions", _GET, _stats_versions, False),
    (re.compile(r"/v1/stats/refs"), "/v1/stats/refs", _GET, _stats_refs, False),
    (re.compile(r"/stats"), "/stats", _GET, _stats_root, False),
    (re.compile(r"/stats/"), "/stats/", _GET, _stats_page, True),
    (re.compile(r"/admin"), "/admin", _GET, _admin_root, False),
    (re.compile(r"/admin/"), "/admin/", _GET, _dashboard, True),
    (re.compile(r"/admin/sessions"), "/admin/sessions", _GET, _sessions, False),
    (
        re.compile(r"/admin/sessions/(?P<hash>[^/]+)"),
        "/admin/sessions/{session_id_hash}",
        _GET,
        _session,
        False,
    ),
    (
        re.compile(r"/admin/sessions/(?P<hash>[^/]+)/view"),
        "/admin/sessions/{session_id_hash}/view",
        _GET,
        _session_view,
        True,
    ),
    (
        re.compile(r"/admin/identities/(?P<identity>[^/]+)/sessions/(?P<hash>[^/]+)"),
        "/admin/identities/{identity}/sessions/{session_id_hash}",
        _GET,
        _identity_session,
        False,
    ),
    (
        re.compile(r"/admin/identities/(?P<identity>[^/]+)/sessions/(?P<hash>[^/]+)/view"),
        "/admin/identities/{identity}/sessions/{session_id_hash}/view",
        _GET,
        _identity_session_view,
        True,
    ),
    (re.compile(r"/admin/rollups"), "/admin/rollups", _GET, _rollups, False),
]


# Path (as the OpenAPI document writes it) -> methods, for the published contract.
PUBLISHED_ROUTES: dict[str, tuple[str, ...]] = {
    name: methods for _pattern, name, methods, _handler, _html in ROUTES
}


def handle_read(request: Request, runtime: Runtime | None = None) -> Response:
    """One read-side request, start to answer; nothing escapes as an exception."""

    def run(exchange: Exchange) -> None:
        for pattern, name, methods, handler, is_html in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            exchange.route, exchange.html = name, is_html
            if request.method not in methods:
                raise MethodNotAllowed(methods)
            settings, served_by = read_together(
                lambda: ReadSettings.from_env(os.environ), lambda: runtime or get_runtime()
            )
            answer = handler(Context(request, settings, served_by, match))
            exchange.answer(answer.status, answer.body or {}, answer.headers)
            exchange.log.update(answer.log or {})
            return
        raise NotFound()

    return serve(request, run, error_page=_error_page)


def _error_page(status: int, code: str) -> str:
    """An operator page's error as a page that says what to do (how to set or send the
    read token, where the dashboard is)."""
    from session_events.viewer.pages import render_error

    return render_error(status, code)
