"""A full outbox (a machine offline for weeks) neither slows the hook nor goes unbounded.

A hook stores its event without opening or stat-ing the events already pending, so its
cost does not grow with them; the sender it starts applies the outbox's bounds (count,
bytes, age) first thing, oldest out, each eviction counted, and never evicts the event its
hook has just stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from session_event_emitter.hook import run_hook
from session_event_emitter.identity import sha256_hex
from session_event_emitter.outbox import Outbox, OutboxLimits

MAX_EVENTS = OutboxLimits().max_events
MAX_AGE_S = OutboxLimits().max_age_seconds


def _fill(
    home: Any, count: int, *, oldest_at: float, name: str = "pending", padding: str = ""
) -> list[Path]:
    """`count` pending events stored as hooks store them, one second apart from `oldest_at`."""
    outbox = Outbox(home.state)
    paths = []
    for n in range(count):
        key = sha256_hex(f"{name}-{n}")
        event = {"identity_hash": "a" * 64, "session_id_hash": key, "tool_count": n}
        assert outbox.put(key, {**event, "padding": padding} if padding else event)
        path = Path(outbox.path_of(key))
        os.utime(path, (oldest_at + n, oldest_at + n))
        paths.append(path)
    return paths


def _hook_stdin(session_id: str) -> Any:
    read_end, write_end = os.pipe()
    os.write(write_end, json.dumps({"session_id": session_id}).encode())
    os.close(write_end)
    return os.fdopen(read_end, "r")


def test_a_hook_touches_no_pending_event_but_its_own(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    pending = _fill(consent_on, MAX_EVENTS, oldest_at=time.time() - 5000)
    touched: list[str] = []
    for name in ("stat", "lstat", "open"):
        real = getattr(os, name)

        def watching(path: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            if isinstance(path, (str, os.PathLike)):
                touched.append(os.fspath(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, watching)
    env = {**os.environ, "SESSION_EVENTS_URL": f"http://127.0.0.1:{free_port}"}
    with _hook_stdin("one-more") as stdin:
        run_hook(env=env, stdin=stdin, spawn=lambda *_args: True)
    monkeypatch.undo()

    assert not {str(path) for path in pending} & set(touched)
    files = consent_on.outbox_files()
    assert len(files) == MAX_EVENTS + 1  # the bounds are the delivery run's to apply
    assert set(pending) < set(files)


def test_the_delivery_run_a_hook_starts_brings_a_full_outbox_back_within_its_bounds(
    consent_on: Any, run_cli: Any, hook_json: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")  # refused
    now = time.time()
    too_old = _fill(consent_on, 3, oldest_at=now - MAX_AGE_S - 3600, name="too-old")
    recent = _fill(consent_on, MAX_EVENTS, oldest_at=now - 5000)

    done = run_cli(stdin=hook_json("one-more"))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    # flush waits for the delivery run the hook started, then runs one itself.
    subprocess.run(
        [sys.executable, "-m", "session_event_emitter", "flush"],
        capture_output=True,
        timeout=60,
        check=False,
    )

    files = set(consent_on.outbox_files())
    assert len(files) == MAX_EVENTS
    assert not files & set(too_old)  # past the age bound
    assert recent[0] not in files  # the oldest of the rest made room for the new event
    assert set(recent[1:]) <= files
    new = files - set(recent)
    [stored] = new
    assert json.loads(stored.read_text())["event"]["session_id_hash"] == sha256_hex("one-more")
    counters = json.loads((consent_on.state / "counters.json").read_text())
    assert (counters["evicted_age"], counters["evicted_count"]) == (3, 1)


def _wait_for(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def _fill_past_every_bound(home: Any) -> tuple[list[Path], list[Path]]:
    """Three events past the age bound, then as many recent ones as the count bound allows,
    each large enough that together they are past the byte bound too."""
    now = time.time()
    too_old = _fill(home, 3, oldest_at=now - MAX_AGE_S - 3600, name="too-old")
    padding = "x" * (OutboxLimits().max_bytes // MAX_EVENTS + 64)
    recent = _fill(home, MAX_EVENTS, oldest_at=now - 5000, padding=padding)
    return too_old, recent


def _within_bounds(home: Any) -> bool:
    files = home.outbox_files()
    try:
        size = sum(path.stat().st_size for path in files)
        oldest = min(path.stat().st_mtime for path in files)
    except FileNotFoundError:
        return False  # the sender evicted a file since the listing: look again
    return (
        len(files) <= MAX_EVENTS
        and size <= OutboxLimits().max_bytes
        and time.time() - oldest <= MAX_AGE_S
    )


def test_a_sender_that_cannot_load_its_http_client_still_applies_the_bounds(
    consent_on: Any, run_cli: Any, hook_json: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib3 broken (or installed without its dependencies): every sender dies on its
    import, and the outbox still keeps its bounds."""
    broken = consent_on.root / "broken"
    (broken / "urllib3").mkdir(parents=True)
    (broken / "urllib3" / "__init__.py").write_text("raise ImportError('broken install')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(broken), *sys.path]))
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", "30")  # a start on a loaded machine
    too_old, _recent = _fill_past_every_bound(consent_on)
    assert not _within_bounds(consent_on)

    done = run_cli(stdin=hook_json("with-a-broken-client"))

    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert _wait_for(lambda: _within_bounds(consent_on))
    assert not set(too_old) & set(consent_on.outbox_files())


def test_hooks_that_end_while_a_delivery_run_holds_the_lock_leave_the_outbox_within_bounds(
    consent_on: Any, run_cli: Any, hook_json: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The senders they start find the run busy; they apply the bounds before they leave."""
    from session_event_emitter.send.gate import sender_lock

    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", "30")  # a start on a loaded machine
    _fill(consent_on, MAX_EVENTS, oldest_at=time.time() - 5000)
    with sender_lock(consent_on.state) as held:  # a long delivery run, as far as they can tell
        assert held
        for n in range(3):
            done = run_cli(stdin=hook_json(f"while-busy-{n}"))
            assert done.returncode == 0
        assert _wait_for(lambda: len(consent_on.outbox_files()) == MAX_EVENTS)
        time.sleep(0.5)  # the last sender may still be running: it must not overshoot either
        assert len(consent_on.outbox_files()) == MAX_EVENTS


def test_a_hook_whose_sender_cannot_start_applies_the_bounds_itself(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    too_old, _recent = _fill_past_every_bound(consent_on)
    env = {**os.environ, "SESSION_EVENTS_URL": f"http://127.0.0.1:{free_port}"}
    with _hook_stdin("no-sender") as stdin:
        run_hook(env=env, stdin=stdin, spawn=lambda *_args: False)
    assert _within_bounds(consent_on)
    assert not set(too_old) & set(consent_on.outbox_files())


@pytest.mark.parametrize("sender", ["starts", "cannot start"])
def test_the_hooks_own_event_is_not_the_one_evicted_after_the_clock_went_back(
    consent_on: Any,
    run_cli: Any,
    hook_json: Any,
    free_port: int,
    monkeypatch: pytest.MonkeyPatch,
    sender: str,
) -> None:
    """The clock stepped back (NTP, a restored snapshot): every pending event looks newer
    than the one this hook stores; the bounds still make room by evicting one of them."""
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("SESSION_EVENTS_SENDER_DEADLINE", "30")
    pending = _fill(consent_on, MAX_EVENTS, oldest_at=time.time() + 3600)
    if sender == "starts":
        assert run_cli(stdin=hook_json("after-the-step")).returncode == 0
        assert _wait_for(lambda: len(consent_on.outbox_files()) == MAX_EVENTS)
    else:
        with _hook_stdin("after-the-step") as stdin:
            run_hook(env=dict(os.environ), stdin=stdin, spawn=lambda *_args: False)
    files = set(consent_on.outbox_files())
    assert len(files) == MAX_EVENTS
    own = hashlib.sha256(b"after-the-step").hexdigest()
    assert own in {json.loads(path.read_text())["event"]["session_id_hash"] for path in files}
    assert len(set(pending) - files) == 1


def test_flush_applies_the_bounds_before_it_sends(
    consent_on: Any, run_cli: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")  # refused
    too_old, _recent = _fill_past_every_bound(consent_on)
    assert run_cli("flush", "--deadline", "5").returncode == 1  # nothing could be sent
    assert _within_bounds(consent_on)
    assert not set(too_old) & set(consent_on.outbox_files())
