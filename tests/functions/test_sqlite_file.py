"""The SQLite file: made whole before anyone sees it, and every 202 in it survives a crash."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from support import ROOT, event, hexhash

from session_events.ingest.service import IngestService
from session_events.ingest.validator import validate_event
from session_events.stores.base import Outcome
from session_events.stores.sqlite.store import SqliteStore

# "Not forever": a bound on waiting, never a timing assertion.
LIVENESS_S = 60

REQUIRED_INDEXES = {"session_events_identity_ended", "session_events_received"}


def test_new_database_is_in_wal_mode_with_its_table_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "new" / "events.db"
    SqliteStore(str(path)).ping()
    reader = sqlite3.connect(path)
    try:
        mode = reader.execute("PRAGMA journal_mode").fetchone()[0]
        names = {row[0] for row in reader.execute("SELECT name FROM sqlite_master")}
        integrity = reader.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        reader.close()
    assert mode == "wal"
    assert {"session_events", *REQUIRED_INDEXES} <= names
    assert integrity == "ok"


def test_no_scratch_file_is_left_beside_the_database(tmp_path: Path) -> None:
    SqliteStore(str(tmp_path / "events.db")).ping()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_accepted_events_survive_the_process_dying_without_closing(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    script = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "functions")!r})
from datetime import UTC, datetime, timedelta
from session_events.ingest.service import IngestService
from session_events.stores.sqlite.store import SqliteStore
from session_events.ingest.validator import validate_event
service = IngestService(SqliteStore({str(path)!r}))
for n in range(300):
    body = {event()!r} | {{"session_id_hash": format(n, "064x")}}
    assert str(service.ingest(validate_event(body))) == "accepted"
os._exit(0)  # no close, no checkpoint: the process just ends
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    reader = sqlite3.connect(path)
    try:
        (count,) = reader.execute("SELECT COUNT(*) FROM session_events").fetchone()
    finally:
        reader.close()
    assert count == 300


class _Left:
    """A deadline with a fixed time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def remaining(self) -> float:
        return self.seconds


def _busy_timeout_ms(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA busy_timeout").fetchone()[0])


def test_busy_wait_is_never_longer_than_the_time_left(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "events.db"), timeout_s=4)
    store.ping()
    conn = store._conn
    assert conn is not None
    for left in (4.0, 3.999, 1.5, 0.2, 0.0):
        store._bound_busy_timeout(conn, _Left(left))  # type: ignore[arg-type]
        assert _busy_timeout_ms(conn) <= left * 1000


def test_busy_wait_gets_its_whole_budget_back_after_a_short_one(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "events.db"), timeout_s=4)
    store.ping()
    conn = store._conn
    assert conn is not None
    store._bound_busy_timeout(conn, _Left(0.2))  # a call that waited long for its turn
    store._bound_busy_timeout(conn, _Left(4.0))  # the next one did not wait
    assert _busy_timeout_ms(conn) >= 4000 - 50


def test_a_write_waits_for_another_writer_within_its_budget(tmp_path: Path) -> None:
    """Another connection's short write lock is waited out, not answered with a 503."""
    path = tmp_path / "events.db"
    store = SqliteStore(str(path), timeout_s=LIVENESS_S)
    store.ping()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        outcome = IngestService(store).ingest(validate_event(event(session_id_hash=hexhash("w"))))
    finally:
        release.join()
        holder.close()
    assert outcome is Outcome.ACCEPTED
