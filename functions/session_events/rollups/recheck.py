"""Rows of days before the job's window whose events changed after the row was computed.

An erasure (`POST /v1/forget`), the SQLite retention sweep or an event that arrives days
late changes the events of a day that the trailing window no longer recomputes. Each run
compares, for every older day the operator can still view (`MAX_ROLLUP_DAYS`), the day's
`events` in its row with the events stored for that day now (counted from the events the
run read already, or by the store for days before them), and recomputes the rows that
differ, that were written before the count was kept, or that are missing while the day
has events. Rows are written in groups of at most REWRITE_GROUP documents: each row is
right on its own, so a run stopped between two groups leaves nothing that the next run
does not find again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from session_events.read.settings import MAX_ROLLUP_DAYS
from session_events.rollups.compute import Plan, daily_rows
from session_events.rollups.documents import daily_documents, read_written_daily
from session_events.stores.base import ReadStore
from session_events.stores.readmodel import StoredEvent, day_start, stamp

REWRITE_GROUP = 50


def older_days(plan: Plan) -> list[date]:
    """The days the operator can view that the window does not recompute, oldest first."""
    first_in_window = plan.daily_days[0]
    first_viewed = plan.last_day - timedelta(days=MAX_ROLLUP_DAYS - 1)
    return [first_viewed + timedelta(days=n) for n in range((first_in_window - first_viewed).days)]


def _bounds(day: date) -> tuple[str, str]:
    return stamp(day_start(day)), stamp(day_start(day + timedelta(days=1)))


def recompute_changed_days(
    store: ReadStore, plan: Plan, window_events: Iterable[StoredEvent] = ()
) -> list[str]:
    """Recompute and rewrite the rows of the older days that changed; the days rewritten.

    `window_events` are the events the run read for its whole window (`plan.read_start` on):
    the days they cover are counted and recomputed from them, without asking the store.
    """
    read_first = plan.last_day - timedelta(days=plan.read_days - 1)
    known: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in window_events:
        known[event.day].append(event)

    def events_of(day: date) -> list[StoredEvent]:
        if day >= read_first:
            return known[day.isoformat()]
        return list(store.events_between(*_bounds(day)))

    def stored_count(day: date) -> int:
        if day >= read_first:
            return len(known[day.isoformat()])
        return store.count_between(*_bounds(day), None)

    days = older_days(plan)
    written = read_written_daily(store, days)
    changed = []
    for day in days:
        row, count = written.get(day.isoformat()), stored_count(day)
        if (row is None and count) or (row is not None and row.events != count):
            changed.append(day)
    rewritten: list[str] = []
    for offset in range(0, len(changed), REWRITE_GROUP):
        rows = [
            row
            for day in changed[offset : offset + REWRITE_GROUP]
            for row in daily_rows(events_of(day), [day])
        ]
        store.write_rollups(daily_documents(rows))
        rewritten.extend(row.day for row in rows)
    return rewritten
