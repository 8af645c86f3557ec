"""Attempts to break the delivery promises from outside the happy path.

Each test names one way a promise of delivery (emitter/README.md, "Delivery") could fail:
a run's outcome that says "delivered" when nothing was, a deadline that a caller's signal
mask switches off, a
`retry-dead` that meets a sender half-way through dead-lettering an event.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackServer, QuietHandler

from session_event_emitter.outbox import Entry, Outbox
from session_event_emitter.send import audit
from session_event_emitter.send.delivery import Policy, deliver
from session_event_emitter.settings import Settings

FAST = Policy(deadline=3.0, base_delay=0.01, max_delay=0.05, connect_timeout=1.0, read_timeout=1.0)
DEADLINE = 1.5
# A liveness bound, not a measurement: the deadline, its grace second, interpreter start-up.
LIVENESS = DEADLINE + 8.0


def _enqueue(home: Any, count: int = 1) -> list[str]:
    outbox = Outbox(home.state)
    keys = []
    for n in range(count):
        key = f"{n:064x}"
        outbox.put(key, {"identity_hash": "a" * 64, "session_id_hash": key, "tool_count": n})
        keys.append(key)
    return keys


def _block_sigalrm() -> None:
    """What a caller that blocked SIGALRM hands down: the mask survives fork and exec."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})


# -- status never says "delivered" when nothing was -------------------------------------------


def test_a_run_whose_events_were_all_called_invalid_is_not_reported_as_delivered(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, stub_server: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    _enqueue(consent_on, 3)
    stub_server.results("invalid", "invalid", "invalid")
    deliver(Settings.load(), FAST)
    last = audit.read_last_delivery(consent_on.state)
    # The log lists the verdicts, and none of them is a delivery.
    assert [r["status"] for r in audit.read_delivered(consent_on.state)] == ["invalid"] * 3
    assert last["outcome"] != "delivered"


# -- the deadline is hard whatever the caller did to SIGALRM ----------------------------------


def test_flush_ends_by_its_deadline_when_its_caller_blocked_sigalrm(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, dripping_server: str
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", dripping_server)
    _enqueue(consent_on)
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_event_emitter", "flush", "--deadline", str(DEADLINE)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
        preexec_fn=_block_sigalrm,
    )
    try:
        ended = proc.wait(timeout=LIVENESS) is not None
    except subprocess.TimeoutExpired:
        ended = False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert ended, "flush was still running long after its deadline"
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
def test_sender_started_by_a_hook_whose_caller_blocked_sigalrm_ends_by_its_deadline(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, dripping_server: str, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", dripping_server)
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", str(DEADLINE))
    started = time.monotonic()
    hook = subprocess.run(
        [sys.executable, "-m", "session_event_emitter"],
        input=hook_json(),
        env=dict(os.environ),
        capture_output=True,
        timeout=20,
        check=False,
        cwd=consent_on.root,
        preexec_fn=_block_sigalrm,
    )
    assert hook.returncode == 0
    seen: set[int] = set()
    running: set[int] = set()
    while time.monotonic() - started < LIVENESS:
        running = _senders_for(consent_on.state)
        seen |= running
        if seen and not running:
            break
        time.sleep(0.05)
    for pid in running:  # clean up what the test started, by PID
        os.kill(pid, signal.SIGKILL)
    assert seen, "the hook started no sender"
    assert not running, "the sender was still running long after its deadline"


# -- retry-dead meeting a sender --------------------------------------------------------------


def test_retry_dead_between_a_dead_letter_write_and_the_pending_removal_keeps_the_event(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender writes the dead letter, then removes the pending copy; `retry-dead` (another
    process) runs in between. The event must end up somewhere: pending or dead-lettered."""
    (key,) = _enqueue(consent_on)
    sender_side = Outbox(consent_on.state)
    (entry,) = sender_side.entries()
    real_discard = Outbox.discard

    def discard_after_a_retry_dead(self: Outbox, removed: Entry) -> None:
        Outbox(consent_on.state).retry_dead()
        real_discard(self, removed)

    monkeypatch.setattr(Outbox, "discard", discard_after_a_retry_dead)
    sender_side.dead_letter(entry, "invalid", {"issues": []})
    monkeypatch.setattr(Outbox, "discard", real_discard)
    pending = {e.key for e in Outbox(consent_on.state).entries()}
    dead = [r["event"] for r in Outbox(consent_on.state).dead_letters()]
    assert key in pending or any(e["session_id_hash"] == key for e in dead)  # type: ignore[index]


# -- consent is read before every request, the fallback to the single endpoint included -------


@contextlib.contextmanager
def _batch_missing_while_consent_goes_off(state: Path) -> Iterator[tuple[str, list[str]]]:
    """A server of the original kind (no batch endpoint) during whose batch answer the user
    records "off" (what `disable` does first). Yields its URL and the paths it was sent."""
    paths: list[str] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.read_body()
            paths.append(self.path)
            if self.path.endswith("/batch"):
                (state / "config.json").write_text(json.dumps({"telemetry": "off"}))
                self.answer_json(404, {"error": "Not found"})
            else:
                self.answer_json(202, {"ok": True})

    with LoopbackServer(Handler) as server:
        yield server.url, paths


def test_nothing_goes_to_the_single_endpoint_after_consent_went_off_during_the_batch_request(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home.state).mkdir(parents=True, exist_ok=True)
    (home.state / "config.json").write_text(json.dumps({"telemetry": "on"}))
    _enqueue(home)
    with _batch_missing_while_consent_goes_off(home.state) as (url, paths):
        monkeypatch.setenv("SESSION_EVENTS_URL", url)
        deliver(Settings.load(), FAST)
    assert paths == ["/v1/session-events/batch"]


# -- a password in the URL is shown hidden everywhere -----------------------------------------


def test_status_json_hides_the_password_of_the_endpoint_url(
    home: Any, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://ingest:s3cret-pw@127.0.0.1:9/")
    done = run_cli("status", "--json")
    report = json.loads(done.stdout)
    assert report["endpoint"] is not None
    assert b"s3cret-pw" not in done.stdout


# -- a pending event is never quarantined for a moment's read error ---------------------------


def test_a_pending_event_that_cannot_be_opened_for_a_moment_stays_pending(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too many open files (or any other passing error) while the outbox is read must not
    move a good event to quarantine, where it is never sent."""
    (key,) = _enqueue(home)
    real_open = os.open

    def open_fails_for_the_event(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(f"outbox/{key}.json"):
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_fails_for_the_event)
    Outbox(home.state).entries()
    monkeypatch.setattr(os, "open", real_open)
    assert [entry.key for entry in Outbox(home.state).entries()] == [key]


# -- the single endpoint's answer must be one about one event ---------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"ok": True, "results": [{"status": "accepted"}, {"status": "accepted"}]},
        {"ok": True, "status": "retry"},
    ],
    ids=["batch-shaped", "status-retry"],
)
def test_a_single_endpoint_answer_that_is_no_verdict_keeps_the_event_pending(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, stub_server: Any, body: dict[str, Any]
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", stub_server.url)
    (key,) = _enqueue(consent_on)
    # A server of the original kind: the batch URL answers 404, the single one `body`.
    stub_server.responder = lambda events: (
        (404, {}, {"error": "Not found"}) if len(stub_server.received) == 1 else (200, {}, body)
    )
    deliver(Settings.load(), FAST)
    assert [entry.key for entry in Outbox(consent_on.state).entries()] == [key]


# -- `disable` while a session is ending --------------------------------------------------------


def test_an_event_stored_while_disable_runs_does_not_outlive_disable(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook read consent (on); `disable` records off and empties the outbox; only then
    does the hook store its event. Nothing may be left pending after `disable`."""
    import argparse
    import io

    from session_event_emitter.commands import disable, enable
    from session_event_emitter.hook import run_hook

    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    with contextlib.redirect_stdout(io.StringIO()):
        enable.run(argparse.Namespace(url=None))
    real_put = Outbox.put

    def put_after_a_disable(self: Outbox, *args: Any, **kwargs: Any) -> bool:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            disable.run(argparse.Namespace(url=None))
        return real_put(self, *args, **kwargs)

    monkeypatch.setattr(Outbox, "put", put_after_a_disable)
    env = dict(os.environ, CLAUDE_SESSION_ID="ending-while-disabled")
    run_hook(env=env, stdin=io.StringIO(""), spawn=lambda *_args: True)
    monkeypatch.setattr(Outbox, "put", real_put)
    assert Outbox(home.state).entries() == []
