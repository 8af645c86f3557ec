"""Rows of days before the job's window whose events changed after the row was computed.

An erasure (`POST /v1/forget`), the SQLite retention sweep or an event that arrives days
late changes the events of a day that the trailing window no longer recomputes. Each run
compares, for every older day the operator can still view (`MAX_ROLLUP_DAYS`), the day's
`events` in its row with the store's count of that day, and recomputes the rows that
differ, that were written before the count was kept, or that are missing while the day has
events. Rows are written in groups of at most REWRITE_GROUP documents: each row is right on
its own, so a run stopped between two groups leaves nothing that the next run does not
find again.
"""

from __future__ import annotations

from datetime import date, timedelta

from session_events.read.settings import MAX_ROLLUP_DAYS
from session_events.rollups.compute import Plan, daily_rows
from session_events.rollups.documents import daily_documents, read_written_daily
from session_events.stores.base import ReadStore
from session_events.stores.readmodel import day_start, stamp

REWRITE_GROUP = 50


def older_days(plan: Plan) -> list[date]:
    """The days the operator can view that the window does not recompute, oldest first."""
    first_in_window = plan.daily_days[0]
    first_viewed = plan.last_day - timedelta(days=MAX_ROLLUP_DAYS - 1)
    return [first_viewed + timedelta(days=n) for n in range((first_in_window - first_viewed).days)]


def _bounds(day: date) -> tuple[str, str]:
    return stamp(day_start(day)), stamp(day_start(day + timedelta(days=1)))


def changed_days(store: ReadStore, days: list[date]) -> list[date]:
    """The days whose row does not match the events stored for them now."""
    written = read_written_daily(store, days)
    changed = []
    for day in days:
        row = written.get(day.isoformat())
        count = store.count_between(*_bounds(day), None)
        if (row is None and count) or (row is not None and row.events != count):
            changed.append(day)
    return changed


def recompute_changed_days(store: ReadStore, plan: Plan) -> list[str]:
    """Recompute and rewrite the rows of the older days that changed; the days rewritten."""
    rewritten: list[str] = []
    changed = changed_days(store, older_days(plan))
    for offset in range(0, len(changed), REWRITE_GROUP):
        rows = [
            row
            for day in changed[offset : offset + REWRITE_GROUP]
            for row in daily_rows(list(store.events_between(*_bounds(day))), [day])
        ]
        store.write_rollups(daily_documents(rows))
        rewritten.extend(row.day for row in rows)
    return rewritten
