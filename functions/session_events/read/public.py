"""The public statistics (README.md, "Public statistics"): the stored weekly releases, as
the answers show them.

Nothing is measured here: every figure is a release's, written once by the rollup job, so
any number of requests, in any order, reveals nothing the releases did not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from session_events.core.errors import NotFound
from session_events.rollups.releases import privacy_block, read_releases, released
from session_events.rollups.weeks import IsoWeek, weeks_back
from session_events.stores.base import ReadStore

WEEK_FIELDS = ("week", "identities", "sessions", "tool_count_median", "tokens_saved_median")
# Weeks the public page lists, the current one included.
PAGE_WEEKS = 12


def _privacy(releases: list[dict[str, Any]], epsilon: float) -> dict[str, Any]:
    """The largest ε among these releases (each week's loss is at most it); the configured
    one when there are none."""
    if not releases:
        return privacy_block(epsilon)
    return dict(max((r["privacy"] for r in releases), key=lambda p: float(p["epsilon"])))


def week_row(release: dict[str, Any]) -> dict[str, Any]:
    return {name: release[name] for name in WEEK_FIELDS}


def weeks(store: ReadStore, *, count: int, now: datetime, epsilon: float) -> dict[str, Any]:
    """`GET /v1/stats/weeks`: released weeks only, newest first."""
    found = released(store, now, count)
    return {"ok": True, "privacy": _privacy(found, epsilon), "rows": [week_row(r) for r in found]}


def _release(store: ReadStore, week: IsoWeek | None, now: datetime) -> dict[str, Any] | None:
    """The release of `week` (NotFound if it has none), or the latest one (None if none)."""
    if week is None:
        latest = released(store, now, 1)
        return latest[0] if latest else None
    found = read_releases(store, [week]).get(week.name)
    if found is None:
        raise NotFound()
    return found


def keyed(
    store: ReadStore,
    *,
    kind: Literal["versions", "refs"],
    week: IsoWeek | None,
    now: datetime,
    epsilon: float,
) -> dict[str, Any]:
    """`GET /v1/stats/versions` and `/v1/stats/refs`: one release's keys, most counted first."""
    found = _release(store, week, now)
    if found is None:
        return {"ok": True, "privacy": privacy_block(epsilon), "week": None, "rows": []}
    return {"ok": True, "privacy": found["privacy"], "week": found["week"], "rows": found[kind]}


def page(
    store: ReadStore, *, week: IsoWeek | None, now: datetime, epsilon: float, delay_days: int
) -> dict[str, Any]:
    """What `GET /stats/` shows: the recent weeks (released or not yet) and one release's keys."""
    recent = weeks_back(now, PAGE_WEEKS)
    found = read_releases(store, recent)
    rows = []
    for item in recent:
        release = found.get(item.name)
        rows.append(
            {
                "week": item.name,
                "released": release is not None,
                "due": item.due_at(delay_days).date().isoformat(),
                **({name: release[name] for name in WEEK_FIELDS[1:]} if release else {}),
            }
        )
    if week is not None:
        selected = _release(store, week, now)
    else:
        selected = next((found[w.name] for w in recent if w.name in found), None)
    listed = [found[w.name] for w in recent if w.name in found]
    return {
        "privacy": _privacy(listed, epsilon),
        "weeks": rows,
        "selected": selected,
    }
