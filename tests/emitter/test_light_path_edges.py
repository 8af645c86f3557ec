"""Attempts to break the hook's lighter path: its JSON codec, clock, config reading and bounds."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from session_event_emitter.outbox import Outbox, OutboxLimits


def _key(n: int) -> str:
    return f"{n:064x}"


def _event(n: int) -> dict[str, object]:
    return {"identity_hash": "a" * 64, "session_id_hash": _key(n), "tool_count": n}


def _envelope_size(event: dict[str, object], enqueued_at: float) -> int:
    from session_event_emitter import jsoncodec

    envelope = {"v": 1, "enqueued_at": enqueued_at, "event": event}
    return len(jsoncodec.dumps(envelope, sort_keys=True).encode())


def test_retry_dead_evicts_no_pending_event_when_the_clock_moves_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The room a dead letter takes is the room its envelope takes when it is written.

    An envelope carries the time it was put back; a time stamp with more digits than the
    one the room was reckoned with must not push the outbox past its byte bound.
    """
    short, long = 1_700_000_000.5, 1_700_000_000.123456
    first = Outbox(tmp_path)
    first.put(_key(1), _event(1), now=short)
    (entry,) = first.entries()
    first.dead_letter(entry, "invalid", {})
    pending = _envelope_size(_event(2), short)
    room = _envelope_size(_event(1), short)  # exactly what the dead letter takes, reckoned now
    outbox = Outbox(tmp_path, OutboxLimits(max_bytes=pending + room))
    outbox.put(_key(2), _event(2), now=short)

    def ticks() -> Iterator[float]:
        yield short  # the moment the room is reckoned
        while True:
            yield long  # every moment after it: more digits

    clock = ticks()
    monkeypatch.setattr(time, "time", lambda: next(clock))
    outbox.retry_dead()

    assert _key(2) in {e.key for e in outbox.entries()}
    assert not any(name.startswith("evicted") for name in outbox.counters())


# A stand-in for the C module `_json` whose scanner reads one more attribute of its context
# than the scanners of 3.11-3.14 do: Python 3.15's reads `array_hook` (CPython gh-146440).
_NEWER_C_JSON = """
import _json, sys, types
{preload}
newer = types.ModuleType("_json")
newer.encode_basestring_ascii = _json.encode_basestring_ascii
newer.make_encoder = _json.make_encoder
def make_scanner(context):
    getattr(context, {attribute!r})  # AttributeError where the context lacks it
    return _json.make_scanner(context)
newer.make_scanner = make_scanner
sys.modules["_json"] = newer
from session_event_emitter import jsoncodec
print(repr((jsoncodec.loads(b'{{"a": [1, 2.5, null]}}'), jsoncodec.dumps({{"b": [True]}}))))
print("json" in sys.modules)
"""


def _run_against_newer_c_json(attribute: str, *, preload: str = "") -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _NEWER_C_JSON.format(attribute=attribute, preload=preload)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_c_scanner_of_python_3_15_reads_documents_without_loading_json() -> None:
    assert _run_against_newer_c_json("array_hook") == [
        repr(({"a": [1, 2.5, None]}, '{"b":[true]}')),
        "False",
    ]


def test_a_c_scanner_wanting_an_attribute_unknown_today_falls_back_to_json() -> None:
    # `json` is loaded first, so that it holds the real C scanner, as a newer json would.
    lines = _run_against_newer_c_json("some_future_option", preload="import json")
    assert lines[0] == repr(({"a": [1, 2.5, None]}, '{"b":[true]}'))


def test_a_reader_never_sees_consent_off_while_enable_rewrites_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable config says off, so `enable` must never leave a half-written one."""
    from session_event_emitter import cli
    from session_event_emitter.settings import Settings

    env = {"HOME": str(tmp_path / "home"), "SESSION_EVENTS_HOME": str(tmp_path / "state")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("SESSION_EVENTS_TELEMETRY", "ASHLR_TELEMETRY", "DO_NOT_TRACK"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["enable", "--url", "http://127.0.0.1:9/a"]) == 0
    done = threading.Event()

    def rewrite() -> None:
        try:
            for n in range(150):  # each rewrite changes the file's length
                cli.main(["enable", "--url", f"http://127.0.0.1:9/{'a' * (n % 7 + 1)}"])
        finally:
            done.set()

    writer = threading.Thread(target=rewrite)
    writer.start()
    seen: set[str] = set()
    while not done.is_set():
        consent = Settings.load(env).consent
        seen.add(consent.source if not consent.enabled else "on")
    writer.join(timeout=60)
    capsys.readouterr()
    assert seen == {"on"}


def test_retry_dead_keeps_a_dead_letter_it_cannot_read_back(tmp_path: Path) -> None:
    """Dead letters are kept until they go back: one not readable now is not deleted."""
    outbox = Outbox(tmp_path)
    path = tmp_path / "dead-letter" / f"{_key(1)}.json"
    path.parent.mkdir()
    # As earlier versions wrote one for a server's long issues (its answer may be up to
    # 1 MiB): larger than the outbox reads back.
    record = {"reason": "invalid", "issues": [{"msg": "x" * 300_000}], "event": _event(1)}
    path.write_text(json.dumps(record))

    outbox.retry_dead()

    assert path.exists() or _key(1) in {e.key for e in outbox.entries()}


def test_a_dead_letter_with_issues_too_long_to_keep_can_still_be_put_back(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.put(_key(1), _event(1))
    (entry,) = outbox.entries()
    outbox.dead_letter(entry, "invalid", {"issues": [{"msg": "x" * 300_000}]})

    assert [record["event"] for record in outbox.dead_letters()] == [_event(1)]
    assert outbox.retry_dead() == (1, 0)
    assert [e.event for e in outbox.entries()] == [_event(1)]
