"""The rollup job on a real SQLite file: events read, rolled up and written per second, and
the public release of one ISO week.

N events are spread over the 28 days the job reads (plus 5 % outside them, which the
indexed window query must skip), from N / 40 identities on three plugin versions with a
few refs each. The `rollup` figure is the whole run as `POST /v1/jobs/rollup` does it with
public statistics on: sweep, read the window, compute, write every rollup in one
transaction, then release the one week that has just become due (the earlier ones were
released by an earlier run, as on a daily schedule). Baseline: reading the same window
alone (the least a run can cost). The `release` figure is that release step alone for one
week: read its events, bound them, measure them with OpenDP, write the release.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import REPO, hex64, median

sys.path.insert(0, str(REPO / "functions"))

from session_events.contract.schema import SessionEvent
from session_events.rollups.compute import Plan
from session_events.rollups.job import release_due_weeks, run_rollup
from session_events.rollups.release import contributions, plan, release_week
from session_events.rollups.releases import ReleaseSettings, release_key, write_release
from session_events.rollups.weeks import due_weeks
from session_events.stores.base import EventRecord
from session_events.stores.readmodel import stamp
from session_events.stores.sqlite.store import SqliteStore

NOW = datetime(2026, 5, 28, 23, 0, tzinfo=UTC)  # a Thursday: 2026-W21 has just become due
VERSIONS = ("1.4.0", "1.5.0", "2.0.0")
REFS = tuple(f"skill:tool-{n}" for n in range(40))
SETTINGS = ReleaseSettings(public_versions=VERSIONS[:2], public_refs=REFS[:10])


def _records(count: int, seed: int = 7) -> list[EventRecord]:
    rng = random.Random(seed)
    identities = max(1, count // 40)
    records = []
    for n in range(count):
        days_back = rng.randrange(28) if n % 20 else 40 + rng.randrange(300)
        ended = NOW - timedelta(days=days_back, seconds=rng.randrange(86_400))
        body: dict[str, Any] = {
            "identity_hash": hex64(1, rng.randrange(identities)),
            "session_id_hash": hex64(2, n),
            "ended_at": ended.isoformat(),
            "tool_count": rng.randrange(200),
            "tokens_saved": rng.randrange(100_000),
            "plugin_version": rng.choice(VERSIONS),
            "discovery_refs": rng.sample(REFS, rng.randrange(4)),
        }
        records.append(
            EventRecord(SessionEvent.model_validate(body), NOW, NOW + timedelta(days=365))
        )
    return records


def _unrelease(store: SqliteStore, name: str) -> None:
    """Forget one week's release (a bench-only step, so each round releases it anew)."""
    with store._reading() as conn:
        conn.execute("DELETE FROM session_rollups WHERE key = ?", (f"release:{name}",))


def run(quick: bool) -> dict[str, Any]:
    """The `rollup` figure (the daily run with its release step) and the `release` figure."""
    count = 5_000 if quick else 200_000
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="rollup-bench-") as directory:
        store = SqliteStore(str(Path(directory) / "events.db"))
        records = _records(count)
        for offset in range(0, len(records), 1_000):
            store.put_many(records[offset : offset + 1_000])
        started = time.perf_counter()
        plan(SETTINGS)  # OpenDP's measurement, built and checked once per process
        plan_s = time.perf_counter() - started
        newest = due_weeks(NOW, SETTINGS.delay_days)[-1]
        release_due_weeks(store, SETTINGS, NOW - timedelta(days=7))  # the earlier weeks
        window = Plan(NOW.date(), 8)
        read_times, run_times, release_times = [], [], []
        read = 0
        for _round in range(rounds):
            started = time.perf_counter()
            read = len(store.events_between(window.read_start, window.read_end))
            read_times.append(time.perf_counter() - started)
            _unrelease(store, newest.name)
            started = time.perf_counter()
            result = run_rollup(store, days=8, clock=lambda: NOW, releases=SETTINGS)
            run_times.append(time.perf_counter() - started)
            assert result.released == [newest.name], result.released
            _unrelease(store, newest.name)
            started = time.perf_counter()
            week_events = store.events_between(stamp(newest.start), stamp(newest.end))
            document = release_week(newest, week_events, SETTINGS, released_at=stamp(NOW))
            assert write_release(store, document)
            release_times.append(time.perf_counter() - started)
        identities = len(contributions(week_events, newest))
        assert store.read_rollups([release_key(newest)])
        store.close()
    seconds = median(run_times)
    return {
        "rollup": {
            "events": result.events,
            "stored_events": count,
            "events_per_s": round(result.events / seconds),
            "seconds": round(seconds, 3),
            "released_weeks": 1,
            "read_only": {"events": read, "events_per_s": round(read / median(read_times))},
        },
        "release": {
            "week": newest.name,
            "seconds": round(median(release_times), 3),
            "events": len(week_events),
            "identities": identities,
            "plan_seconds": round(plan_s, 3),
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
