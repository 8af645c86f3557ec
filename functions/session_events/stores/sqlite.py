"""The embedded SQLite store (the default): one WAL database file, one row per event."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from session_events.deadline import Deadline
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

    SQLite serialises writers anyway; WAL lets other processes read meanwhile. Each call's
    wait for its turn (the lock, then SQLite's busy handler) comes out of one deadline of
    `timeout_s`, so a database locked by another process answers StoreUnavailable in time.
    """

    def __init__(self, path: str, *, timeout_s: float = 4.0) -> None:
        self.path = path
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self, deadline: Deadline) -> sqlite3.Connection:
        if self._conn is None:
            try:
                if self.path != ":memory:":
                    folder = os.path.dirname(os.path.abspath(self.path))
                    if os.path.exists(folder) and not os.path.isdir(folder):
                        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), folder)
                    os.makedirs(folder, exist_ok=True)
                    _create(self.path, folder)
                conn = sqlite3.connect(
                    self.path,
                    timeout=deadline.remaining(),
                    check_same_thread=False,
                    isolation_level=None,
                )
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.executescript(SCHEMA)
                except BaseException:
                    conn.close()
                    raise
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(
                    f"sqlite: cannot open {self.path}: {_reason(exc)}"
                ) from exc
            self._conn = conn
        else:
            self._conn.execute(f"PRAGMA busy_timeout = {int(deadline.remaining() * 1000)}")
        return self._conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        deadline = Deadline(self._timeout_s)
        if not self._lock.acquire(timeout=deadline.remaining()):
            raise StoreUnavailable(
                f"sqlite: {self.path}: busy, no turn within {self._timeout_s:g} s"
            )
        try:
            yield self._connect(deadline)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise StoreUnavailable(f"sqlite: {self.path}: {_reason(exc)}") from exc
        finally:
            self._lock.release()

    def put(self, record: EventRecord) -> Outcome:
        with self._connection() as conn:
            cursor = conn.execute(INSERT, _row(record))
            return Outcome.ACCEPTED if cursor.rowcount == 1 else Outcome.DUPLICATE

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        """One transaction; a row SQLite refuses on its own (not a lock or I/O error) is RETRY."""
        with self._connection() as conn:
            outcomes = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                for record in records:
                    try:
                        cursor = conn.execute(INSERT, _row(record))
                    except (sqlite3.IntegrityError, sqlite3.DataError, OverflowError):
                        outcomes.append(Outcome.RETRY)
                        continue
                    outcomes.append(Outcome.ACCEPTED if cursor.rowcount == 1 else Outcome.DUPLICATE)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if records and all(outcome is Outcome.RETRY for outcome in outcomes):
                raise StoreUnavailable(f"sqlite: {self.path}: every row of the batch refused")
            return outcomes

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1 FROM session_events LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _create(path: str, folder: str) -> None:
    """Create the database with its tables under a temporary name and link it into place, so
    no reader ever finds the file without its table; a file that exists is left alone."""
    if os.path.exists(path):
        return
    handle, scratch = tempfile.mkstemp(prefix=".session_events-", suffix=".db", dir=folder)
    os.close(handle)
    try:
        conn = sqlite3.connect(scratch, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(scratch, path)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
            raise  # a file system without hard links: the database is made in place
    finally:
        for leftover in (scratch, f"{scratch}-wal", f"{scratch}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _reason(exc: BaseException) -> str:
    """Why SQLite or the file system refused, in their own words (never event data)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__
