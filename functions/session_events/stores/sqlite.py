"""The embedded SQLite store (the default): one WAL database file, one row per event."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from session_events.errors import StoreUnavailable
from session_events.schema import format_timestamp
from session_events.stores.base import EventRecord, Outcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS session_events (
    identity_hash TEXT NOT NULL,
    github_hash TEXT,
    session_id_hash TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    tool_count INTEGER NOT NULL,
    tokens_saved INTEGER NOT NULL,
    branch_sha TEXT,
    discovery_refs_json TEXT NOT NULL DEFAULT '[]',
    plugin_version TEXT NOT NULL,
    received_at TEXT NOT NULL,
    expire_at TEXT NOT NULL,
    UNIQUE (identity_hash, session_id_hash)
);
CREATE INDEX IF NOT EXISTS session_events_identity_ended
    ON session_events (identity_hash, ended_at);
CREATE INDEX IF NOT EXISTS session_events_received ON session_events (received_at);
"""

INSERT = """
INSERT INTO session_events (
    identity_hash, github_hash, session_id_hash, ended_at, tool_count, tokens_saved,
    branch_sha, discovery_refs_json, plugin_version, received_at, expire_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (identity_hash, session_id_hash) DO NOTHING
"""


def _row(record: EventRecord) -> tuple[object, ...]:
    event = record.event
    return (
        event.identity_hash,
        event.github_hash,
        event.session_id_hash,
        format_timestamp(event.ended_at),
        event.tool_count,
        event.tokens_saved,
        event.branch_sha,
        json.dumps(event.discovery_refs, separators=(",", ":")) if event.discovery_refs else "[]",
        event.plugin_version,
        format_timestamp(record.received_at),
        format_timestamp(record.expire_at),
    )


class SqliteStore:
    """One connection per instance, shared by the server's threads under a lock.

    SQLite serialises writers anyway; WAL lets other processes read meanwhile, and the busy
    timeout makes a second writer process wait instead of failing.
    """

    def __init__(self, path: str, *, timeout_s: float = 5.0) -> None:
        self.path = path
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self._timeout_s, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connect()
            except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
                raise StoreUnavailable(f"sqlite: {type(exc).__name__}") from exc

    def put(self, record: EventRecord) -> Outcome:
        with self._connection() as conn:
            cursor = conn.execute(INSERT, _row(record))
            return Outcome.ACCEPTED if cursor.rowcount == 1 else Outcome.DUPLICATE

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        with self._connection() as conn:
            outcomes = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for record in records:
                    cursor = conn.execute(INSERT, _row(record))
                    outcomes.append(Outcome.ACCEPTED if cursor.rowcount == 1 else Outcome.DUPLICATE)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return outcomes

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1 FROM session_events LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
