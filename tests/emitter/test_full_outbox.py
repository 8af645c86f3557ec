"""A full outbox (a machine offline for weeks) neither slows the hook nor goes unbounded.

A hook stores its event without opening or stat-ing the events already pending, so its
cost does not grow with them; the delivery run it starts applies the outbox's bounds
(count, bytes, age) first, oldest out, each eviction counted.
"""

from __future__ import annotations

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
from session_event_emitter.outbox import OutboxLimits

MAX_EVENTS = OutboxLimits().max_events
MAX_AGE_S = OutboxLimits().max_age_seconds


def _fill(outbox: Path, count: int, *, oldest_at: float, name: str = "pending") -> list[Path]:
    """`count` pending events, one second apart from `oldest_at`, as hooks write them."""
    outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = []
    for n in range(count):
        key = sha256_hex(f"{name}-{n}")
        envelope = {
            "v": 1,
            "enqueued_at": oldest_at + n,
            "event": {"identity_hash": "a" * 64, "session_id_hash": key, "tool_count": n},
        }
        path = outbox / f"{key}.json"
        path.write_text(json.dumps(envelope))
        path.chmod(0o600)
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
    pending = _fill(consent_on.outbox, MAX_EVENTS, oldest_at=time.time() - 5000)
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
    too_old = _fill(consent_on.outbox, 3, oldest_at=now - MAX_AGE_S - 3600, name="too-old")
    recent = _fill(consent_on.outbox, MAX_EVENTS, oldest_at=now - 5000)

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
