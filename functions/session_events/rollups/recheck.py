"""Rows of days before the job's window whose events changed after the row was computed.

An erasure (`POST /v1/forget`), the SQLite retention sweep or an event that arrives days
late changes the events of a day that the trailing window no longer recomputes. Each run
compares, for every older day the operator can still view (`MAX_ROLLUP_DAYS`), the day's
`events` in its row with the events stored for that day now (counted from the events the
run read already, or by the store for days before them), and recomputes the rows that
differ, that were written before the count was kept, or that are missing while the day
has events. A count alone can hide an erasure (a late event of the same day evens it),
so every erasure writes a new mark (`LAST_ERASURE_KEY`: a time and a random token), and a
run that finds a mark other than the one it handled last (`RECHECKED_KEY`), read before it
reads any event, recomputes every older day that has a row or events, then records that
mark as handled. A mark written after the run read it, late or out of order, differs from
the one recorded, so the next run recomputes again: no clock is compared.
Rows are written in groups of at most REWRITE_GROUP documents: each row is right on its
own, so a run stopped between two groups leaves nothing that the next run does not find
again (the erasure is marked handled only after the last group).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from session_events.read.settings import MAX_ROLLUP_DAYS
from session_events.rollups.compute import DailyRow, Plan, daily_rows
from session_events.rollups.documents import daily_documents, read_written_daily
from session_events.stores.base import LAST_ERASURE_KEY, ReadStore
from session_events.stores.readmodel import StoredEvent, day_start, days_back, stamp

REWRITE_GROUP = 50
# The erasure mark the last run that recomputed every older day had read before it began.
RECHECKED_KEY = "erasure:rechecked"


def unhandled_erasure(store: ReadStore) -> str | None:
    """The erasure mark when no run has handled it yet; read it before reading events."""
    marks = store.read_rollups([LAST_ERASURE_KEY, RECHECKED_KEY])
    mark = marks.get(LAST_ERASURE_KEY)
    return mark if mark is not None and mark != marks.get(RECHECKED_KEY) else None


def older_days(plan: Plan) -> list[date]:
    """The days the operator can view that the window does not recompute, oldest first."""
    return days_back(plan.daily_days[0] - timedelta(days=1), MAX_ROLLUP_DAYS - plan.days)


def _bounds(day: date) -> tuple[str, str]:
    return stamp(day_start(day)), stamp(day_start(day + timedelta(days=1)))


def recompute_changed_days(
    store: ReadStore,
    plan: Plan,
    window_events: Iterable[StoredEvent],
    erasure: str | None = None,
) -> list[str]:
    """Recompute and rewrite the rows of the older days that changed; the days rewritten.

    `window_events` are the events the run read for its whole window (`plan.read_start` on):
    the days they cover are counted and recomputed from them, without asking the store.
    With `erasure` (from `unhandled_erasure`, read before the window's events), every older
    day is recomputed and the mark is recorded as handled once all are written.
    """
    read_first = plan.read_first_day
    known: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in window_events:
        known[event.day].append(event)

    def events_of(day: date) -> list[StoredEvent]:
        if day >= read_first:
            return known[day.isoformat()]
        return list(store.events_between(*_bounds(day)))  # one day in memory at a time

    def count_of(day: date) -> int:
        if day >= read_first:
            return len(known[day.isoformat()])
        return store.count_between(*_bounds(day), None)

    days = older_days(plan)
    written = read_written_daily(store, days)
    rewritten: list[str] = []
    pending: list[DailyRow] = []

    def flush() -> None:
        store.write_rollups(daily_documents(pending))
        rewritten.extend(row.day for row in pending)
        pending.clear()

    for day in days:
        row = written.get(day.isoformat())
        # A count can hide an erasure (a late event of the same day evens it out).
        if erasure is not None:
            events = events_of(day)
            if row is None and not events:
                continue
        else:
            count = count_of(day)
            if (row is None and not count) or (row is not None and row.events == count):
                continue
            events = events_of(day)
        pending.extend(daily_rows(events, [day]))
        if len(pending) == REWRITE_GROUP:
            flush()
    if pending:
        flush()
    if erasure is not None:
        store.write_rollups({RECHECKED_KEY: erasure})
    return rewritten
