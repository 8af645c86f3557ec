"""End to end: the hook and the sender against the real function on loopback, with SQLite."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from loopback import ServedFunction, free_port, served_function


def _wait_for_row(function: ServedFunction, session_id: str, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = function.rows(session_id)
        if count:
            return count
        time.sleep(0.1)
    return function.rows(session_id)


def test_hook_then_flush_stores_exactly_one_row(
    consent_on: Any,
    function: ServedFunction,
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
    function: ServedFunction,
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
    function: ServedFunction,
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

    with served_function(tmp_path, port) as served:
        assert run_cli("flush").returncode == 0
        assert served.rows("e2e-outage") == 1
    assert consent_on.outbox_files() == []
