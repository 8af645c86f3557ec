"""Counts from the original plugin's SQLite stats (``ASHLR_STATS_BACKEND=sqlite``).

The original keeps ``sessions(session_id, calls, tokens_saved)`` in ``~/.ashlr/stats.db``
(or ``ASHLR_STATS_DB_PATH``) and adds up the same buckets as with its JSON file: the
session's own id and the ``sessionId`` of ``last-project.json`` when its ``updatedAt`` is at
most 24 hours old, each once. The emitter reads the database read-only and bounded in time;
a database it cannot read gives what a missing one gives (the transcript's count).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exit_probe import run_watching_imports

from session_event_emitter.event import HookInput, build_event
from session_event_emitter.settings import Settings

NOW = datetime(2026, 5, 22, 12, 0, tzinfo=UTC)
OWN = "3f0c1a2e-0000-4000-8000-00000000000a"
HINTED = "3f0c1a2e-0000-4000-8000-00000000000b"

# The original's own schema (its _stats-sqlite.ts), and the pragmas it opens with.
ORIGINAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  session_id     TEXT PRIMARY KEY,
  started_at     TEXT NOT NULL,
  last_saving_at TEXT,
  calls          INTEGER NOT NULL DEFAULT 0,
  tokens_saved   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS lifetime_totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  calls INTEGER NOT NULL DEFAULT 0,
  tokens_saved INTEGER NOT NULL DEFAULT 0
);
"""


def _database(path: Path, rows: dict[str, tuple[object, object]], *, wal: bool = True) -> Path:
    """A stats database as the original writes it, with one row per (calls, tokens_saved)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        if wal:
            connection.execute("PRAGMA journal_mode = WAL")
        connection.executescript(ORIGINAL_SCHEMA)
        connection.executemany(
            "INSERT INTO sessions (session_id, started_at, calls, tokens_saved) VALUES (?,?,?,?)",
            [(sid, "2026-05-22T10:00:00.000Z", c, t) for sid, (c, t) in rows.items()],
        )
        connection.commit()
    finally:
        connection.close()
    return path


ROWS = {OWN: (17, 4321), HINTED: (3, 79), "someone-else": (500, 500)}


def _hint(legacy: Path, session_id: str, age: timedelta = timedelta(hours=1)) -> None:
    legacy.mkdir(exist_ok=True)
    moment = NOW - age
    body = {"sessionId": session_id, "updatedAt": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    (legacy / "last-project.json").write_text(json.dumps(body))


def _transcript(directory: Path, blocks: int = 2) -> str:
    path = directory / "transcript.jsonl"
    content = [{"type": "tool_use", "id": f"toolu_{n}"} for n in range(blocks)]
    path.write_text(json.dumps({"message": {"content": content}}) + "\n")
    return str(path)


def _counts(
    home: Any, env: dict[str, str] | None = None, session_id: str | None = OWN
) -> tuple[object, object]:
    environment = {**os.environ, "ASHLR_STATS_BACKEND": "sqlite", **(env or {})}
    hook = HookInput(session_id=session_id, transcript_path=_transcript(home.root))
    event = build_event(Settings.load(environment), hook, environment, now=NOW)
    return event["tool_count"], event["tokens_saved"]


TRANSCRIPT_ONLY = (2, 0)  # what a session without any stats bucket counts


@pytest.fixture
def db(home: Any) -> Path:
    return _database(home.legacy / "stats.db", ROWS)


def test_the_sessions_own_row_counts(db: Path, home: Any) -> None:
    assert _counts(home) == (17, 4321)


def test_the_hinted_row_is_added(db: Path, home: Any) -> None:
    _hint(home.legacy, HINTED)
    assert _counts(home) == (20, 4400)


def test_a_hint_older_than_a_day_is_not_added(db: Path, home: Any) -> None:
    _hint(home.legacy, HINTED, timedelta(hours=24, seconds=1))
    assert _counts(home) == (17, 4321)


def test_a_hint_naming_the_own_session_counts_it_once(db: Path, home: Any) -> None:
    _hint(home.legacy, OWN)
    assert _counts(home) == (17, 4321)


def test_the_hinted_row_alone_counts_for_a_session_without_a_row(db: Path, home: Any) -> None:
    _hint(home.legacy, HINTED)
    assert _counts(home, session_id="no-row-for-me") == (3, 79)


def test_no_row_for_the_session_counts_the_transcript(db: Path, home: Any) -> None:
    assert _counts(home, session_id="no-row-for-me") == TRANSCRIPT_ONLY


def test_stats_db_path_names_another_database(home: Any) -> None:
    other = _database(home.root / "elsewhere" / "my stats?#%41.db", {OWN: (5, 6)})
    _database(home.legacy / "stats.db", ROWS)
    assert _counts(home, {"ASHLR_STATS_DB_PATH": str(other)}) == (5, 6)


def test_an_empty_stats_db_path_means_the_default(db: Path, home: Any) -> None:
    assert _counts(home, {"ASHLR_STATS_DB_PATH": ""}) == (17, 4321)


def test_a_database_in_rollback_journal_mode_is_read_too(home: Any) -> None:
    _database(home.legacy / "stats.db", ROWS, wal=False)
    assert _counts(home) == (17, 4321)


@pytest.mark.parametrize("backend", ["json", "SQLite", " sqlite", "sqlite3", ""])
def test_only_the_exact_word_sqlite_selects_the_database(db: Path, home: Any, backend: str) -> None:
    """The original compares ``ASHLR_STATS_BACKEND === "sqlite"``; anything else is JSON."""
    stats = {"schemaVersion": 2, "sessions": {OWN: {"calls": 1, "tokensSaved": 2}}, "lifetime": {}}
    (home.legacy / "stats.json").write_text(json.dumps(stats))
    assert _counts(home, {"ASHLR_STATS_BACKEND": backend}) == (1, 2)


def test_with_the_sqlite_backend_the_json_file_is_not_read(db: Path, home: Any) -> None:
    stats = {"schemaVersion": 2, "sessions": {OWN: {"calls": 1, "tokensSaved": 2}}, "lifetime": {}}
    (home.legacy / "stats.json").write_text(json.dumps(stats))
    assert _counts(home) == (17, 4321)


@pytest.mark.parametrize(
    ("calls", "tokens", "expected"),
    [
        (10**12, 10**15, (1_000_000, 1_000_000_000)),
        (-5, -1, (0, 0)),
        (5.7, 9.9, (5, 9)),
        ("17", "4321", (0, 0)),
        (None, 12, (0, 12)),
        (b"\x01", 3, (0, 3)),
        (float("inf"), 3, (0, 3)),
    ],
    ids=repr,
)
def test_values_are_read_as_the_original_reads_them(
    home: Any, calls: object, tokens: object, expected: tuple[int, int]
) -> None:
    """Numbers as they are (clamped to the server's range); anything else counts 0."""
    path = home.legacy / "stats.db"
    path.parent.mkdir()
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE sessions (session_id TEXT, calls, tokens_saved)")
    connection.execute("INSERT INTO sessions VALUES (?, ?, ?)", (OWN, calls, tokens))
    connection.commit()
    connection.close()
    assert _counts(home) == expected


def test_a_session_id_is_a_value_never_sql(home: Any) -> None:
    tricky = "x' OR '1'='1"
    _database(home.legacy / "stats.db", {tricky: (4, 4), OWN: (1, 1), "y": (100, 100)})
    assert _counts(home, session_id=tricky) == (4, 4)


# Read-only: nothing is created, written or left behind.


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """The database's files (``stats.db`` and any ``-wal``, ``-shm``, ``-journal``): bytes
    and modification times. (The hook writes ``machine-id`` beside them, as it should.)"""
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in directory.iterdir()
        if p.name.startswith("stats.db")
    }


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "rollback-journal"])
def test_the_database_and_its_folder_are_left_exactly_as_they_were(home: Any, wal: bool) -> None:
    _database(home.legacy / "stats.db", ROWS, wal=wal)
    before = _snapshot(home.legacy)
    assert _counts(home) == (17, 4321)
    assert _snapshot(home.legacy) == before


def test_a_read_only_database_in_a_read_only_folder_is_read(db: Path, home: Any) -> None:
    db.chmod(0o400)
    home.legacy.chmod(0o500)
    try:
        assert _counts(home) == (17, 4321)
    finally:
        home.legacy.chmod(0o700)


def test_a_missing_database_is_not_created(home: Any) -> None:
    assert _counts(home) == TRANSCRIPT_ONLY
    assert not home.legacy.exists()
    elsewhere = home.root / "nowhere" / "stats.db"
    assert _counts(home, {"ASHLR_STATS_DB_PATH": str(elsewhere)}) == TRANSCRIPT_ONLY
    assert not elsewhere.parent.exists()


# A database that cannot be read counts as a missing one.


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _truncated(path: Path) -> None:
    _database(path, ROWS, wal=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbled(path: Path) -> None:
    _database(path, ROWS, wal=False)
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # the schema page, after the header
    path.write_bytes(bytes(data))


def _shaped(sql: str) -> Any:
    def make(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path)
        connection.executescript(sql)
        connection.close()

    return make


BROKEN = {
    "empty file": lambda p: _write(p, b""),
    "text file": lambda p: _write(p, b'{"schemaVersion": 2}'),
    "random bytes": lambda p: _write(p, os.urandom(8192)),
    "sqlite header, nothing else": lambda p: _write(p, b"SQLite format 3\x00" + b"\x00" * 84),
    "truncated": _truncated,
    "garbled schema page": _garbled,
    "no sessions table": _shaped("CREATE TABLE stats (session_id TEXT, calls, tokens_saved);"),
    "no tokens_saved column": _shaped("CREATE TABLE sessions (session_id TEXT, calls);"),
    "renamed columns": _shaped("CREATE TABLE sessions (id TEXT, n_calls, saved);"),
    "a directory": lambda p: p.mkdir(parents=True),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_database_that_cannot_be_read_counts_as_a_missing_one(home: Any, name: str) -> None:
    BROKEN[name](home.legacy / "stats.db")
    assert _counts(home) == TRANSCRIPT_ONLY


@pytest.fixture
def locked(home: Any) -> Iterator[Path]:
    """The database with an exclusive lock held by another connection, until the test ends."""
    path = _database(home.legacy / "stats.db", ROWS, wal=False)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE sessions SET calls = calls + 1")
    try:
        yield path
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_locked_database_counts_as_a_missing_one(locked: Path, home: Any) -> None:
    assert _counts(home) == TRANSCRIPT_ONLY


def test_a_database_locked_in_wal_mode_is_still_read(db: Path, home: Any) -> None:
    """A writer does not block a reader in WAL mode, the original's own."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE sessions SET calls = calls + 1000")
    try:
        assert _counts(home) == (17, 4321)  # the committed rows
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# The real hook process.


def _hook_env(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, free_port: int, db_path: Path | None = None
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("ASHLR_STATS_BACKEND", "sqlite")
    if db_path is not None:
        monkeypatch.setenv("ASHLR_STATS_DB_PATH", str(db_path))


def _stored_counts(home: Any) -> tuple[object, object]:
    [stored] = home.outbox_files()
    event = json.loads(stored.read_text())["event"]
    return event["tool_count"], event["tokens_saved"]


def test_the_hook_sends_the_databases_counts_and_loads_sqlite3_for_it(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int, db: Path
) -> None:
    _hook_env(consent_on, monkeypatch, free_port)
    done = run_watching_imports([], hook_json(OWN), ("sqlite3", "_sqlite3"))
    assert (done.returncode, done.stdout) == (0, b"")
    assert done.stderr == b"sqlite3,_sqlite3"
    assert _stored_counts(consent_on) == (17, 4321)


def test_the_hook_without_a_database_does_not_load_sqlite3(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    _hook_env(consent_on, monkeypatch, free_port)
    done = run_watching_imports([], hook_json(OWN), ("sqlite3", "_sqlite3"))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert _stored_counts(consent_on) == (0, 0)


def test_the_hook_with_a_locked_database_stores_its_event(
    consent_on: Any,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    hook_json: Any,
    free_port: int,
    locked: Path,
) -> None:
    _hook_env(consent_on, monkeypatch, free_port)
    done = run_cli(stdin=hook_json(OWN, transcript_path=_transcript(consent_on.root, 3)))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert _stored_counts(consent_on) == (3, 0)


def test_the_hook_with_a_fifo_for_a_database_does_not_wait_for_a_writer(
    consent_on: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    fifo = consent_on.root / "stats.db"
    os.mkfifo(fifo)
    _hook_env(consent_on, monkeypatch, free_port, fifo)
    # A hook that opened the FIFO would wait for a writer that never comes: run_cli's
    # timeout would end it and fail the test.
    done = run_cli(stdin=hook_json(OWN, transcript_path=_transcript(consent_on.root, 1)))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert _stored_counts(consent_on) == (1, 0)
