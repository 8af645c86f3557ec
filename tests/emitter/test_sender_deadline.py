"""No sender outlives its deadline: measured on real processes against stalling servers.

The bounds here are correctness bounds (deadline + interpreter start-up slack), not
performance figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from session_event_emitter.outbox import Outbox

DEADLINE = 1.5
# Interpreter start-up and a loaded machine's stalls come on top of the deadline; the
# servers these tests stall against hang for 30 s or for ever, far past it.
SLACK = 8.0


def _enqueue(home: Any) -> None:
    key = "f" * 64
    Outbox(home.state).put(key, {"identity_hash": "a" * 64, "session_id_hash": key})


def _run_sender(*args: str) -> tuple[float, int]:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_event_emitter.send.sender", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        code = proc.wait(timeout=DEADLINE + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.monotonic() - started, code


@pytest.mark.parametrize("server", ["silent_server", "dripping_server"])
def test_sender_exits_by_its_deadline_against_a_stalling_server(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, server: str
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", request.getfixturevalue(server))
    _enqueue(consent_on)
    elapsed, _ = _run_sender("--deadline", str(DEADLINE))
    assert elapsed < DEADLINE + SLACK
    assert len(consent_on.outbox_files()) == 1


def test_deadline_can_come_from_the_environment(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, dripping_server: str
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", dripping_server)
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", str(DEADLINE))
    _enqueue(consent_on)
    elapsed, _ = _run_sender()
    assert elapsed < DEADLINE + SLACK


def test_flush_is_bounded_by_its_deadline(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, dripping_server: str, run_cli: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", dripping_server)
    _enqueue(consent_on)
    started = time.monotonic()
    done = run_cli("flush", "--deadline", str(DEADLINE))
    assert time.monotonic() - started < DEADLINE + 1.0 + SLACK
    assert done.returncode != 0
    assert len(consent_on.outbox_files()) == 1


def _senders_for(state: Path) -> set[int]:
    """PIDs of sender processes working on `state` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        marker = f"SESSION_EVENTS_HOME={state}".encode()
        if b"session_event_emitter.send.sender" in cmdline and marker in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_detached_sender_started_by_the_hook_ends_by_its_deadline(
    consent_on: Any,
    monkeypatch: pytest.MonkeyPatch,
    silent_server: str,
    run_cli: Any,
    hook_json: Any,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", silent_server)
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", str(DEADLINE))
    started = time.monotonic()
    assert run_cli(stdin=hook_json()).returncode == 0
    seen: set[int] = set()
    while time.monotonic() - started < DEADLINE + SLACK + 5:
        running = _senders_for(consent_on.state)
        seen |= running
        if seen and not running:
            break
        time.sleep(0.05)
    assert seen, "the hook started no sender"
    assert time.monotonic() - started < DEADLINE + SLACK
    assert len(consent_on.outbox_files()) == 1
    assert (consent_on.state / "last-delivery.json").exists()


_DNS_HANGS = """
import socket, sys, time
real = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if host == "dns-hangs.example":
        time.sleep(60)  # a resolver that never answers, as behind a broken VPN
    return real(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
sys.argv = ["session-event-emit", "flush", "--deadline", sys.argv[1]]
from session_event_emitter import cli
cli.run()
"""


def test_flush_blocked_in_dns_at_its_deadline_says_so_and_keeps_the_events(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python cannot interrupt a name lookup: flush still ends on time, in words."""
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://dns-hangs.example")
    _enqueue(consent_on)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _DNS_HANGS, str(DEADLINE)],
        capture_output=True,
        timeout=DEADLINE + 10,
        check=False,
    )
    assert time.monotonic() - started < DEADLINE + 1.0 + SLACK
    assert done.returncode == 1
    assert b"deadline" in done.stderr
    assert b"stay pending" in done.stderr
    assert len(consent_on.outbox_files()) == 1
