"""Erasure on a real SQLite file: seconds for `POST /v1/forget` to erase one install's events.

The install has 2,000 events spread over its last five quarters (so five of the identities
the route derives hold events), among 40,000 events of 400 other installs. The figure is one
request through the function's handler, in process: validate the install id, derive every
quarter's identity, delete their rows with their bytes overwritten, checkpoint the log.
Baseline: a plain `DELETE` of the same rows (the least an erasure can cost). Each round
stores the install's events again first.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import REPO, hex64, median, paired_ratio

sys.path.insert(0, str(REPO / "functions"))

from flask import Flask

from session_events.contract.schema import SessionEvent
from session_events.ingest.config import Settings
from session_events.ingest.http import handle
from session_events.runtime import Runtime
from session_events.stores.base import EventRecord
from session_events.stores.sqlite.store import SqliteStore

QUARTERS = 5
OTHERS = 400


def _salted(install_id: str, moment: datetime) -> str:
    salt = f"salt_{moment.year}Q{(moment.month - 1) // 3 + 1}"
    return hashlib.sha256((install_id + salt).encode()).hexdigest()


def _records(install_id: str, count: int, now: datetime, seed: int) -> list[EventRecord]:
    """`count` events of one install, spread over its last QUARTERS quarters."""
    records = []
    for n in range(count):
        ended = now - timedelta(days=93 * (n % QUARTERS), minutes=n)
        body: dict[str, Any] = {
            "identity_hash": _salted(install_id, ended),
            "session_id_hash": hex64(seed, n),
            "ended_at": ended.isoformat(),
            "tool_count": n % 200,
            "tokens_saved": n * 7,
            "plugin_version": "1.4.0",
        }
        records.append(
            EventRecord(SessionEvent.model_validate(body), now, now + timedelta(days=365))
        )
    return records


def _store(store: SqliteStore, records: list[EventRecord]) -> None:
    for offset in range(0, len(records), 1_000):
        store.put_many(records[offset : offset + 1_000])


def run(quick: bool) -> dict[str, Any]:
    """Seconds to erase one install's events (median of rounds), with their count."""
    count = 2_000
    rounds = 1 if quick else 5
    others = 40 if quick else OTHERS
    now = datetime.now(UTC)
    install_id = str(uuid.uuid4())
    app = Flask(__name__)
    with tempfile.TemporaryDirectory(prefix="forget-bench-") as directory:
        path = str(Path(directory) / "events.db")
        env = {"SESSION_EVENTS_STORE": "sqlite", "SESSION_EVENTS_SQLITE_PATH": path}
        store = SqliteStore(path)
        runtime = Runtime.from_settings(Settings.from_env(env), store)
        for other in range(others):
            _store(store, _records(str(uuid.uuid4()), 100, now, seed=100 + other))
        mine = _records(install_id, count, now, seed=1)
        hashes = sorted({record.event.identity_hash for record in mine})
        times, plain = [], []
        deleted = 0
        for _round in range(rounds):
            _store(store, mine)
            with (
                app.test_request_context(
                    "/v1/forget", method="POST", json={"install_id": install_id}
                ),
                contextlib.redirect_stdout(io.StringIO()),  # its log line
            ):
                from flask import request

                started = time.perf_counter()
                answer = handle(request, runtime)
                times.append(time.perf_counter() - started)
            deleted = int(answer.get_json()["deleted"])
            _store(store, mine)
            with sqlite3.connect(path, isolation_level=None) as conn:
                marks = ", ".join("?" * len(hashes))
                started = time.perf_counter()
                conn.execute(
                    f"DELETE FROM session_events WHERE identity_hash IN ({marks})",  # noqa: S608
                    hashes,
                )
                plain.append(time.perf_counter() - started)
        store.close()
    seconds = median(times)
    return {
        "events": deleted,
        "seconds": round(seconds, 4),
        "stored_events": count + others * 100,
        "plain_delete_seconds": round(median(plain), 4),
        "ratio_paired": round(paired_ratio(times, plain), 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
