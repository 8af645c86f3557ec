"""The rollup job on a real SQLite file: events read, rolled up and written per second.

N events are spread over the 28 days the job reads (plus 5 % outside them, which the
indexed window query must skip), from N / 40 identities on three plugin versions with a
few refs each. The figure is the whole run as `POST /v1/jobs/rollup` does it: sweep, read
the window, compute, write every rollup in one transaction. Baseline: reading the same
window alone (the least a run can cost).
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
from session_events.rollups.job import run_rollup
from session_events.stores.base import EventRecord
from session_events.stores.sqlite.store import SqliteStore

NOW = datetime(2026, 5, 28, 23, 0, tzinfo=UTC)
VERSIONS = ("1.4.0", "1.5.0", "2.0.0")
REFS = tuple(f"skill:tool-{n}" for n in range(40))


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


def run(quick: bool) -> dict[str, Any]:
    """Seconds and events per second of one rollup run over `events` stored events."""
    count = 5_000 if quick else 200_000
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="rollup-bench-") as directory:
        store = SqliteStore(str(Path(directory) / "events.db"))
        records = _records(count)
        for offset in range(0, len(records), 1_000):
            store.put_many(records[offset : offset + 1_000])
        plan = Plan(NOW.date(), 8)
        read_times, run_times = [], []
        read = 0
        for _round in range(rounds):
            started = time.perf_counter()
            read = len(store.events_between(plan.read_start, plan.read_end))
            read_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = run_rollup(store, days=8, clock=lambda: NOW)
            run_times.append(time.perf_counter() - started)
        store.close()
    seconds = median(run_times)
    return {
        "events": result.events,
        "stored_events": count,
        "events_per_s": round(result.events / seconds),
        "seconds": round(seconds, 3),
        "read_only": {"events": read, "events_per_s": round(read / median(read_times))},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
