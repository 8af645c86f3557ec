"""The operator's view as data (README.md, "The operator's view"): sessions, one session with
its related ones, exact rollups, and what the dashboard page shows. No hash leaves here but
a session's own.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from session_events.core.displayid import DisplayIds, is_identity_id
from session_events.core.timestamps import parse_rfc3339
from session_events.rollups.compute import RefRow, VersionRow
from session_events.rollups.documents import read_refs, read_versions, read_written_daily
from session_events.stores.base import ReadStore
from session_events.stores.readmodel import Cursor, StoredEvent, day_start, days_back, stamp

HASH = re.compile(r"[0-9a-f]{64}")
RELATED_DAYS = 30
RELATED_LIMIT = 50
# How many senders of one session hash an identity's page looks through.
SENDERS_LIMIT = 100
# An event's `ended_at` may be up to 24 h past the server's clock: a window reaches there.
FUTURE_DAYS = 2


def session_object(event: StoredEvent, ids: DisplayIds) -> dict[str, Any]:
    """One session as the operator sees it: display ids in place of identity and GitHub."""
    return {
        "session_id_hash": event.session_id_hash,
        "identity": ids.identity(event.identity_hash),
        "github": ids.github(event.github_hash),
        "ended_at": event.ended_at,
        "tool_count": event.tool_count,
        "tokens_saved": event.tokens_saved,
        "branch_sha": event.branch_sha,
        "discovery_refs": list(event.discovery_refs),
    }


def window(days: int, today: date) -> tuple[str, str]:
    """[00:00 UTC of the first of `days` days ending today, the end of tomorrow)."""
    return (
        stamp(day_start(today - timedelta(days=days - 1))),
        stamp(day_start(today + timedelta(days=FUTURE_DAYS))),
    )


def sessions(
    store: ReadStore,
    ids: DisplayIds,
    *,
    days: int,
    limit: int,
    logged_in: bool | None,
    after: Cursor | None,
    today: date,
) -> dict[str, Any]:
    start, end = window(days, today)
    page = store.sessions_page(start, end, limit=limit, logged_in=logged_in, after=after)
    return {
        "ok": True,
        "sessions": [session_object(event, ids) for event in page.events],
        "total_count_in_window": store.count_between(start, end, logged_in),
        "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
    }


def session(store: ReadStore, ids: DisplayIds, session_id_hash: str) -> dict[str, Any] | None:
    """The first stored event with this session hash, with its related sessions; None if none.

    A later event with the same hash under another identity never takes its place.
    """
    if not HASH.fullmatch(session_id_hash):
        return None
    senders = store.session_senders(session_id_hash, 1)
    return _detail(store, ids, senders[0], session_id_hash) if senders else None


def identity_session(
    store: ReadStore, ids: DisplayIds, identity: str, session_id_hash: str
) -> dict[str, Any] | None:
    """The event of the identity shown as `identity` with this session hash; None if none.

    Only the first SENDERS_LIMIT senders of one hash are looked through: the first stored
    (the one a later sender could try to displace) is always among them.
    """
    if not HASH.fullmatch(session_id_hash) or not is_identity_id(identity):
        return None
    for sender in store.session_senders(session_id_hash, SENDERS_LIMIT):
        if ids.identity(sender) == identity:
            return _detail(store, ids, sender, session_id_hash)
    return None


def _detail(
    store: ReadStore, ids: DisplayIds, identity_hash: str, session_id_hash: str
) -> dict[str, Any] | None:
    """One identity's session and its sessions of the 30 days before it (at most 50)."""
    found = store.session(identity_hash, session_id_hash)
    if found is None:  # erased between the two reads
        return None
    ended = parse_rfc3339(found.ended_at)
    related = store.identity_sessions(
        found.identity_hash,
        stamp(ended - timedelta(days=RELATED_DAYS)),
        found.ended_at,
        RELATED_LIMIT,
    )
    return {
        "ok": True,
        "session": session_object(found, ids),
        "related": [session_object(event, ids) for event in related],
    }


def exact_daily(store: ReadStore, *, days: int, today: date) -> list[dict[str, Any]]:
    """The `days` UTC days ending today, oldest first, as the rollups counted them.

    A day no run has computed (one without events, or one after the last run) has null
    numbers and `computed` false; a computed day with no event is 0.
    """
    written = read_written_daily(store, days_back(today, days))
    rows = []
    for day in days_back(today, days):
        row = written.get(day.isoformat())
        rows.append(
            {
                "day": day.isoformat(),
                "identities": None if row is None else row.identities,
                "sessions": None if row is None else row.sessions,
                "computed": row is not None,
            }
        )
    return rows


def exact_version(row: VersionRow, k: int) -> dict[str, Any]:
    return {
        "version": row.version,
        "identities": row.identities,
        "sessions": row.sessions,
        "tool_count": {"p50": row.tool_count_p50, "p90": row.tool_count_p90},
        "tokens_saved": {"p50": row.tokens_saved_p50, "p90": row.tokens_saved_p90},
        "suppressed": row.identities < k,
    }


def exact_ref(row: RefRow) -> dict[str, Any]:
    return asdict(row)


def rollups(
    store: ReadStore, *, k: int, kind: str, days: int, window_name: str, today: date
) -> dict[str, Any]:
    """Exact rollup numbers for the operator; ref names still only at K or more identities."""
    if kind == "daily":
        return {
            "ok": True,
            "k": k,
            "kind": kind,
            "rows": exact_daily(store, days=days, today=today),
        }
    if kind == "versions":
        as_of, version_rows = read_versions(store, window_name)
        return {
            "ok": True,
            "k": k,
            "kind": kind,
            "window": window_name,
            "as_of": as_of,
            "rows": [exact_version(row, k) for row in version_rows],
        }
    as_of, ref_rows = read_refs(store)
    return {
        "ok": True,
        "k": k,
        "kind": kind,
        "window": "28d",
        "as_of": as_of,
        "rows": [exact_ref(row) for row in ref_rows if row.identities >= k],
    }


def dashboard(
    store: ReadStore,
    ids: DisplayIds,
    *,
    k: int,
    days: int,
    limit: int,
    logged_in: bool | None,
    after: Cursor | None,
    today: date,
) -> dict[str, Any]:
    """The keyword arguments of `viewer.render_dashboard`."""
    listed = sessions(
        store, ids, days=days, limit=limit, logged_in=logged_in, after=after, today=today
    )
    _as_of, version_rows = read_versions(store, "28d")
    _as_of, ref_rows = read_refs(store)
    return {
        "k": k,
        "daily": exact_daily(store, days=days, today=today),
        "versions": [exact_version(row, k) for row in version_rows],
        "refs": [exact_ref(row) for row in ref_rows if row.identities >= k],
        "sessions": listed["sessions"],
        "total_count_in_window": listed["total_count_in_window"],
        "logged_in": logged_in,
        "days": days,
        "next_cursor": listed["next_cursor"],
    }


def today_utc() -> date:
    return datetime.now(UTC).date()
