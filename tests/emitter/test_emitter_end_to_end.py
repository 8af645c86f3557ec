"""End to end: the hook and the sender against the real function on loopback, with SQLite."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback import FUNCTION_SOURCE, free_port, start_function, stop, wait_healthy

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not FUNCTION_SOURCE.exists(), reason="functions/main.py is not in this tree"
)


@dataclass
class Function:
    url: str
    db: Path

    def rows(self, session_id: str) -> int:
        digest = hashlib.sha256(session_id.encode()).hexdigest()
        if not self.db.exists():
            return 0
        with sqlite3.connect(self.db) as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM session_events WHERE session_id_hash = ?", (digest,)
            ).fetchone()
        return int(count)


def _start(port: int, db: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SESSION_EVENTS_STORE": "sqlite",
        "SESSION_EVENTS_SQLITE_PATH": str(db),
        "PYTHONPATH": str(REPO / "functions"),
    }
    return start_function(port, env, log)


@pytest.fixture
def function(tmp_path: Path) -> Iterator[Function]:
    port = free_port()
    db = tmp_path / "db.sqlite"
    log = tmp_path / "function.log"
    proc = _start(port, db, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, log)
        yield Function(url=url, db=db)
    finally:
        stop(proc)


def _wait_for_row(function: Function, session_id: str, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = function.rows(session_id)
        if count:
            return count
        time.sleep(0.1)
    return function.rows(session_id)


def test_hook_then_flush_stores_exactly_one_row(
    consent_on: Any,
    function: Function,
    run_cli: Any,
    hook_json: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", function.url)
    assert run_cli(stdin=hook_json("e2e-flush")).returncode == 0
    done = run_cli("flush")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _wait_for_row(function, "e2e-flush") == 1
    assert consent_on.outbox_files() == []


def test_detached_sender_delivers_the_hook_event(
    consent_on: Any,
    function: Function,
    run_cli: Any,
    hook_json: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", function.url)
    assert run_cli(stdin=hook_json("e2e-detached")).returncode == 0
    assert _wait_for_row(function, "e2e-detached") == 1
    log = run_cli("log")
    assert b'"status": "accepted"' in log.stdout


def test_same_session_twice_is_stored_once(
    consent_on: Any,
    function: Function,
    run_cli: Any,
    hook_json: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", function.url)
    for _ in range(2):
        run_cli(stdin=hook_json("e2e-twice"))
        run_cli("flush")
    assert function.rows("e2e-twice") == 1


def test_event_written_during_an_outage_is_delivered_after_it(
    consent_on: Any,
    tmp_path: Path,
    run_cli: Any,
    hook_json: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("SESSION_EVENTS_URL", url)
    assert run_cli(stdin=hook_json("e2e-outage")).returncode == 0
    assert run_cli("flush", "--deadline", "1").returncode == 1
    assert len(consent_on.outbox_files()) == 1

    db, log = tmp_path / "db.sqlite", tmp_path / "function.log"
    proc = _start(port, db, log)
    try:
        wait_healthy(url, proc, log)
        assert run_cli("flush").returncode == 0
        assert Function(url, db).rows("e2e-outage") == 1
    finally:
        stop(proc)
    assert consent_on.outbox_files() == []
