"""The embedded SQLite store (the default): one WAL database file, one row per event.

The read side adds indexes on `ended_at`, `session_id_hash` and `expire_at`, and a table
`session_rollups` (key -> JSON text), created on its first use.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

from session_events.core.deadline import Deadline
from session_events.core.errors import StoreUnavailable
from session_events.core.timestamps import format_timestamp
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.readmodel import Cursor, SessionPage, StoredEvent

SCHEMA = """
BEGIN;
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
COMMIT;
"""

READ_SCHEMA = """
BEGIN;
CREATE INDEX IF NOT EXISTS session_events_ended ON session_events (ended_at);
CREATE INDEX IF NOT EXISTS session_events_session ON session_events (session_id_hash);
CREATE INDEX IF NOT EXISTS session_events_expire ON session_events (expire_at);
CREATE TABLE IF NOT EXISTS session_rollups (
    key TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
COMMIT;
"""

READ_COLUMNS = (
    "identity_hash, session_id_hash, ended_at, tool_count, tokens_saved, plugin_version, "
    "github_hash, branch_sha, discovery_refs_json"
)

# How much shorter than the time left the busy timeout may stay (see _bound_busy_timeout).
_BUSY_SLACK_MS = 50

_LOGGED_IN = {None: "", True: " AND github_hash IS NOT NULL", False: " AND github_hash IS NULL"}

INSERT = """
INSERT INTO session_events (
    identity_hash, github_hash, session_id_hash, ended_at, tool_count, tokens_saved,
    branch_sha, discovery_refs_json, plugin_version, received_at, expire_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (identity_hash, session_id_hash) DO NOTHING
"""


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # built once, not per row


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
        _COMPACT.encode(event.discovery_refs) if event.discovery_refs else "[]",
        event.plugin_version,
        format_timestamp(record.received_at),
        format_timestamp(record.expire_at),
    )


def _stored(row: Sequence[object]) -> StoredEvent:
    refs = json.loads(str(row[8])) if row[8] else []
    return StoredEvent(
        identity_hash=str(row[0]),
        session_id_hash=str(row[1]),
        ended_at=str(row[2]),
        tool_count=int(str(row[3])),
        tokens_saved=int(str(row[4])),
        plugin_version=str(row[5]),
        github_hash=None if row[6] is None else str(row[6]),
        branch_sha=None if row[7] is None else str(row[7]),
        discovery_refs=tuple(refs),
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
        self._read_conn: sqlite3.Connection | None = None  # has the read side's schema
        self._busy_ms = 0  # the connection's busy timeout as last set

    def _connect(self, deadline: Deadline) -> sqlite3.Connection:
        if self._conn is None:
            try:
                if self.path != ":memory:":
                    folder = os.path.dirname(os.path.abspath(self.path))
                    if os.path.exists(folder) and not os.path.isdir(folder):
                        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), folder)
                    os.makedirs(folder, exist_ok=True)
                    _create(self.path, folder)
                busy_ms = int(deadline.remaining() * 1000)
                conn = sqlite3.connect(
                    self.path,
                    timeout=busy_ms / 1000,
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
                raise StoreUnavailable(f"sqlite: cannot open {self.path}: {_reason(exc)}") from exc
            self._conn = conn
            self._busy_ms = busy_ms  # as opened, however long the open itself took
        else:
            self._bound_busy_timeout(self._conn, deadline)
        return self._conn

    def _bound_busy_timeout(self, conn: sqlite3.Connection, deadline: Deadline) -> None:
        """SQLite's busy handler waits at most what is left of this call's deadline.

        The PRAGMA is a statement of its own, so it is run only when the bound must change:
        when less is left than the last bound (a wait for the lock took some), or more than
        _BUSY_SLACK_MS more (the bound is raised again after such a wait).
        """
        left_ms = int(deadline.remaining() * 1000)
        if left_ms < self._busy_ms or left_ms > self._busy_ms + _BUSY_SLACK_MS:
            conn.execute(f"PRAGMA busy_timeout = {left_ms}")
            self._busy_ms = left_ms

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

    def erase_identities(self, identity_hashes: Sequence[str]) -> int:
        """One DELETE through the (identity_hash, ended_at) index: every row goes, or none.

        The deleted rows' bytes are overwritten (`secure_delete`), and the write-ahead log,
        which still holds them as they were written, is checkpointed into the file and
        emptied unless a reader holds it (then the next checkpoint overwrites them).
        """
        if not identity_hashes:
            return 0
        marks = ", ".join("?" * len(identity_hashes))
        with self._connection() as conn:
            conn.execute("PRAGMA secure_delete = ON")
            try:
                cursor = conn.execute(
                    f"DELETE FROM session_events WHERE identity_hash IN ({marks})",  # noqa: S608
                    list(identity_hashes),
                )
            finally:
                conn.execute("PRAGMA secure_delete = OFF")
            if cursor.rowcount:
                with contextlib.suppress(sqlite3.OperationalError):  # a reader holds the log
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return int(cursor.rowcount)

    # ---- read side ---------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            if self._read_conn is not conn:
                try:
                    conn.executescript(READ_SCHEMA)
                except BaseException:
                    # A statement refused (the lock is another process's) leaves its BEGIN
                    # open; the next event's INSERT must not run inside it, uncommitted.
                    if conn.in_transaction:
                        conn.rollback()
                    raise
                self._read_conn = conn
            yield conn

    def events_between(self, start: str, end: str) -> list[StoredEvent]:
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM session_events "  # noqa: S608 (constant columns)
                "WHERE ended_at >= ? AND ended_at < ?",
                (start, end),
            ).fetchall()
        return [_stored(row) for row in rows]

    def count_between(self, start: str, end: str, logged_in: bool | None) -> int:
        with self._reading() as conn:
            sql = "SELECT COUNT(*) FROM session_events WHERE ended_at >= ? AND ended_at < ?"
            (count,) = conn.execute(sql + _LOGGED_IN[logged_in], (start, end)).fetchone()
        return int(count)

    def sessions_page(
        self, start: str, end: str, *, limit: int, logged_in: bool | None, after: Cursor | None
    ) -> SessionPage:
        sql = (
            f"SELECT {READ_COLUMNS}, rowid FROM session_events "  # noqa: S608 (constants)
            "WHERE ended_at >= ? AND ended_at < ?" + _LOGGED_IN[logged_in]
        )
        params: list[object] = [start, end]
        if after is not None:
            if not after.tiebreak.isdigit():
                return SessionPage([], None)
            sql += " AND (ended_at, rowid) < (?, ?)"
            params += [after.ended_at, int(after.tiebreak)]
        sql += " ORDER BY ended_at DESC, rowid DESC LIMIT ?"
        params.append(limit + 1)
        with self._reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        page = rows[:limit]
        more = len(rows) > limit
        cursor = Cursor(str(page[-1][2]), str(page[-1][9])) if more and page else None
        return SessionPage([_stored(row) for row in page], cursor)

    def session_senders(self, session_id_hash: str, limit: int) -> list[str]:
        """In the order stored: `received_at`, then the row number (a later insert's is larger)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT identity_hash FROM session_events WHERE session_id_hash = ? "
                "ORDER BY received_at, rowid LIMIT ?",
                (session_id_hash, limit),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def session(self, identity_hash: str, session_id_hash: str) -> StoredEvent | None:
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {READ_COLUMNS} FROM session_events "  # noqa: S608 (constant columns)
                "WHERE identity_hash = ? AND session_id_hash = ?",
                (identity_hash, session_id_hash),
            ).fetchone()
        return None if row is None else _stored(row)

    def identity_sessions(
        self, identity_hash: str, start: str, end: str, limit: int
    ) -> list[StoredEvent]:
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {READ_COLUMNS} FROM session_events "  # noqa: S608 (constant columns)
                "WHERE identity_hash = ? AND ended_at >= ? AND ended_at < ? "
                "ORDER BY ended_at DESC LIMIT ?",
                (identity_hash, start, end, limit),
            ).fetchall()
        return [_stored(row) for row in rows]

    def write_rollups(self, documents: Mapping[str, str]) -> None:
        """One transaction: every document is written, or none is."""
        with self._reading() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO session_rollups (key, body) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                    list(documents.items()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def create_rollup(self, key: str, body: str) -> bool:
        """One insert that leaves an existing document of this key untouched."""
        with self._reading() as conn:
            cursor = conn.execute(
                "INSERT INTO session_rollups (key, body) VALUES (?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, body),
            )
        return cursor.rowcount == 1

    def read_rollups(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._reading() as conn:
            for offset in range(0, len(keys), 500):
                chunk = list(keys[offset : offset + 500])
                marks = ", ".join("?" * len(chunk))
                found.update(
                    conn.execute(
                        f"SELECT key, body FROM session_rollups WHERE key IN ({marks})",  # noqa: S608
                        chunk,
                    ).fetchall()
                )
        return found

    def sweep_expired(self, now: datetime) -> int:
        with self._reading() as conn:
            cursor = conn.execute(
                "DELETE FROM session_events WHERE expire_at <= ?", (format_timestamp(now),)
            )
        return int(cursor.rowcount)

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
            # Nobody sees the scratch file before it is linked into place, so SQLite needs no
            # journal and no syncs to build it; the one fsync below makes it durable first.
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.executescript(SCHEMA)
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        fd = os.open(scratch, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
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
