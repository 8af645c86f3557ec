"""What the commands say while a delivery runs, and at the edges a first run meets.

`status` says a delivery is running (since when, until when) and never calls one that is
still going cut short; `flush` during a running delivery waits for it within its own
deadline and reports what it did; a refused connection names the host and port; `log`
piped into `head` ends quietly. All on real processes against loopback servers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from session_event_emitter.outbox import Outbox

# Liveness bounds: far above what each step takes, they only prove "not forever".
BOUND_S = 30.0


def _enqueue(home: Any, count: int = 1) -> None:
    outbox = Outbox(home.state)
    for number in range(count):
        key = f"{number:064x}"
        outbox.put(key, {"identity_hash": "a" * 64, "session_id_hash": key})


def _start_flush(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "session_event_emitter", "flush", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )


def _wait_for(condition: Any, what: str) -> None:
    ends = time.monotonic() + BOUND_S
    while time.monotonic() < ends:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def running_delivery(
    consent_on: Any, stub_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[subprocess.Popen[bytes]]:
    """A flush whose request the server holds until the test releases it."""
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    _enqueue(consent_on, 3)
    stub_server.hang()
    process = _start_flush("--deadline", "20")
    try:
        _wait_for(lambda: stub_server.received, "the server got the request")
        yield process
    finally:
        stub_server.release.set()
        if process.poll() is None:
            process.kill()
        process.wait()


def _status(run_cli: Any) -> dict[str, Any]:
    done = run_cli("status", "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_status_says_a_delivery_is_running_since_when_and_until_when(
    running_delivery: subprocess.Popen[bytes], run_cli: Any
) -> None:
    last = _status(run_cli)["last_delivery"]
    assert last["outcome"] == "running"
    started = datetime.fromisoformat(last["started_at"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(last["deadline_at"].replace("Z", "+00:00"))
    assert 19 <= (until - started).total_seconds() <= 21
    text = run_cli("status").stdout.decode()
    assert "running since" in text and "until" in text
    assert "cut_short" not in text


def test_status_after_the_running_delivery_shows_its_outcome(
    running_delivery: subprocess.Popen[bytes], stub_server: Any, run_cli: Any
) -> None:
    stub_server.accept()
    stub_server.release.set()
    running_delivery.wait(timeout=BOUND_S)
    last = _status(run_cli)["last_delivery"]
    assert last["outcome"] == "delivered"
    assert last["accepted"] == 3


def test_a_delivery_killed_mid_run_is_reported_cut_short(
    running_delivery: subprocess.Popen[bytes], run_cli: Any
) -> None:
    running_delivery.send_signal(signal.SIGKILL)
    running_delivery.wait(timeout=BOUND_S)
    last = _status(run_cli)["last_delivery"]
    assert last["outcome"] == "cut_short"
    assert "running since" not in run_cli("status").stdout.decode()


def test_flush_during_a_running_delivery_waits_for_it_and_reports_its_outcome(
    running_delivery: subprocess.Popen[bytes], stub_server: Any
) -> None:
    second = _start_flush("--deadline", "20")
    assert second.stderr is not None
    # It says it is waiting before the first delivery is allowed to end.
    waiting = second.stderr.readline().decode()
    assert "waiting for the delivery running since" in waiting
    stub_server.accept()
    stub_server.release.set()
    out, err = second.communicate(timeout=BOUND_S)
    assert second.returncode == 0, err
    assert b"delivered: accepted 3" in out
    # The held request (its connection closed unanswered) and the first flush's retry:
    # the second flush found nothing left to send.
    assert len(stub_server.received) == 2


def test_flush_whose_deadline_ends_first_says_the_delivery_is_still_running(
    running_delivery: subprocess.Popen[bytes],
) -> None:
    second = _start_flush("--deadline", "1")
    out, err = second.communicate(timeout=BOUND_S)
    assert second.returncode == 1
    assert b"still running" in out + err
    assert b"remaining 3" in out


def test_a_refused_connection_is_named_with_its_host_and_port(
    consent_on: Any, run_cli: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    _enqueue(consent_on)
    done = run_cli("flush", "--deadline", "1")
    assert done.returncode == 1
    assert f"127.0.0.1:{free_port}".encode() in done.stdout
    assert f"127.0.0.1:{free_port}" in _status(run_cli)["last_delivery"]["detail"]


def test_log_piped_into_head_ends_quietly(home: Any) -> None:
    home.state.mkdir(parents=True, exist_ok=True)
    record = {"delivered_at": "2026-12-01T00:00:00.000Z", "status": "accepted", "event": {}}
    line = json.dumps({**record, "event": {"identity_hash": "a" * 64}}) + "\n"
    (home.state / "delivered.jsonl").write_text(line * 5000)
    done = subprocess.run(
        [
            "bash",
            "-c",
            f"set -o pipefail; {sys.executable} -m session_event_emitter log -n 0 | head -1",
        ],
        capture_output=True,
        timeout=BOUND_S,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert done.stdout.count(b"\n") == 1


def test_log_into_a_closed_pipe_ends_quietly_even_on_its_first_line(home: Any) -> None:
    home.state.mkdir(parents=True, exist_ok=True)
    (home.state / "delivered.jsonl").write_text('{"status":"accepted"}\n' * 3)
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: the first write fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "session_event_emitter", "log"],
            stdout=writer,
            stderr=subprocess.PIPE,
            timeout=BOUND_S,
            env=dict(os.environ),
            check=False,
        )
    finally:
        os.close(writer)
    assert done.returncode == 0
    assert done.stderr == b""
