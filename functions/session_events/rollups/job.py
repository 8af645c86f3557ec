"""The rollup job: sweep, read the window, compute, write all its rollups at once, recompute
the older days the operator can view whose events changed (an erasure, a late event), then
release the public weeks that are due while public statistics are on.

Run it over HTTP (`POST /v1/jobs/rollup`) or from a shell (`make rollup`):

    python -m session_events.rollups.job        # from functions/, against the configured store

A run that fails anywhere before the window's write leaves every rollup as it was; that write
is all-or-nothing on every store, and so is each group of older days rewritten after it.
The release budget is checked first, so a configuration that would overspend it writes
nothing at all. Each due week is computed
from the events stored now and written once, whole, where no release of it exists; a
week already released is never computed again.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from session_events.core.environment import read_together
from session_events.core.errors import ConfigurationError, IngestError
from session_events.ingest.config import Settings
from session_events.read.settings import ReadSettings
from session_events.rollups.compute import Plan, compute
from session_events.rollups.documents import to_documents
from session_events.rollups.recheck import recompute_changed_days, unhandled_erasure
from session_events.rollups.releases import ReleaseSettings, read_releases, write_release
from session_events.rollups.weeks import due_weeks
from session_events.runtime import open_store
from session_events.stores.base import ReadStore
from session_events.stores.readmodel import stamp


@dataclass(frozen=True, slots=True)
class JobResult:
    days: list[str]
    events: int
    swept: int
    released: list[str] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)  # older days whose events changed


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_rollup(
    store: ReadStore,
    *,
    days: int,
    clock: Callable[[], datetime] = utc_now,
    releases: ReleaseSettings | None = None,
) -> JobResult:
    """Recompute the trailing `days` UTC days (and the 7/28-day windows) from the events,
    and the older days whose events changed; with `releases`, release the due weeks that
    have no release yet."""
    now = clock()
    if releases is not None:
        from session_events.rollups.release import plan as release_plan  # OpenDP: job only

        release_plan(releases)  # over the budget: BudgetExceeded, before anything is written
    swept = store.sweep_expired(now)
    plan = Plan(last_day=now.astimezone(UTC).date(), days=days)
    erasure = unhandled_erasure(store)  # before any event is read
    events = list(store.events_between(plan.read_start, plan.read_end))
    store.write_rollups(to_documents(compute(events, plan)))
    recomputed = recompute_changed_days(store, plan, events, erasure)
    released = release_due_weeks(store, releases, now) if releases is not None else []
    return JobResult(
        [day.isoformat() for day in plan.daily_days], len(events), swept, released, recomputed
    )


def release_due_weeks(store: ReadStore, settings: ReleaseSettings, now: datetime) -> list[str]:
    """Release every due week without a release, from the events stored now; the names of
    the weeks this run released (a week another run released meanwhile is left to it)."""
    from session_events.rollups.release import release_week  # OpenDP: job only

    weeks = due_weeks(now, settings.delay_days)
    existing = read_releases(store, weeks)
    documents = [
        release_week(
            week,
            store.events_between(stamp(week.start), stamp(week.end)),
            settings,
            released_at=stamp(now),
        )
        for week in weeks
        if week.name not in existing
    ]
    return [str(doc["week"]) for doc in documents if write_release(store, doc)]


def main() -> int:
    try:
        settings, read_settings = read_together(
            lambda: Settings.from_env(os.environ), lambda: ReadSettings.from_env(os.environ)
        )
        store = open_store(settings)
        if not isinstance(store, ReadStore):
            raise ConfigurationError(f"the {settings.store} store has no read side")
        result = run_rollup(
            store, days=read_settings.rollup_days, releases=read_settings.releases()
        )
    except IngestError as error:
        print(f"rollup failed, nothing written: {error.detail or error.code}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "ok": True,
                "days": result.days,
                "events": result.events,
                "swept": result.swept,
                "released": result.released,
                "recomputed": result.recomputed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
