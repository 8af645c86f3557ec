"""The rollup job (CONTRACT §6.1): sweep, read the window, compute, write all rollups at once.

Run it over HTTP (`POST /v1/jobs/rollup`) or from a shell (`make rollup`):

    python -m session_events.rollups.job        # from functions/, against the configured store

A run that fails anywhere before the one write leaves every rollup as it was; the write
itself is all-or-nothing on every store.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from session_events.core.errors import ConfigurationError, IngestError
from session_events.ingest.config import Settings
from session_events.read.settings import ReadSettings
from session_events.rollups.compute import Plan, compute
from session_events.rollups.documents import to_documents
from session_events.runtime import open_store
from session_events.stores.base import ReadStore


@dataclass(frozen=True, slots=True)
class JobResult:
    days: list[str]
    events: int
    swept: int


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_rollup(
    store: ReadStore, *, days: int, clock: Callable[[], datetime] = utc_now
) -> JobResult:
    """Recompute the trailing `days` UTC days (and the 7/28-day windows) from the events."""
    now = clock()
    swept = store.sweep_expired(now)
    plan = Plan(last_day=now.astimezone(UTC).date(), days=days)
    events = list(store.events_between(plan.read_start, plan.read_end))
    store.write_rollups(to_documents(compute(events, plan)))
    return JobResult([day.isoformat() for day in plan.daily_days], len(events), swept)


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
        read_settings = ReadSettings.from_env(os.environ)
        store = open_store(settings)
        if not isinstance(store, ReadStore):
            raise ConfigurationError(f"the {settings.store} store has no read side")
        result = run_rollup(store, days=read_settings.rollup_days)
    except IngestError as error:
        print(f"rollup failed, nothing written: {error.detail or error.code}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {"ok": True, "days": result.days, "events": result.events, "swept": result.swept}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
