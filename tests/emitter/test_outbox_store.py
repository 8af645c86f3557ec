"""The durable outbox: private atomic files, first-wins keys, bounds, dead-letter, quarantine."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from session_event_emitter.outbox import Outbox, OutboxLimits


def _key(n: int) -> str:
    return f"{n:064x}"


def _event(n: int) -> dict[str, object]:
    return {"identity_hash": "a" * 64, "session_id_hash": _key(n), "tool_count": n}


def test_put_writes_a_private_file_named_by_key(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    assert outbox.put(_key(1), _event(1)) is True
    path = tmp_path / "outbox" / f"{_key(1)}.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["event"] == _event(1)
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [path.name]


def test_first_event_for_a_key_wins(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.put(_key(1), {"first": True})
    assert outbox.put(_key(1), {"first": False}) is False
    assert outbox.entries()[0].event == {"first": True}


def test_entries_come_oldest_first(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for n, when in ((1, 300.0), (2, 100.0), (3, 200.0)):
        outbox.put(_key(n), _event(n), now=time.time())
        os.utime(tmp_path / "outbox" / f"{_key(n)}.json", (when, when))
        path = tmp_path / "outbox" / f"{_key(n)}.json"
        envelope = json.loads(path.read_text())
        envelope["enqueued_at"] = when
        path.write_text(json.dumps(envelope))
    assert [e.key for e in outbox.entries()] == [_key(2), _key(3), _key(1)]


def test_count_bound_evicts_the_oldest_and_counts_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, OutboxLimits(max_events=3))
    for n in range(5):
        outbox.put(_key(n), _event(n))
        stamp = time.time() - 100 + n
        os.utime(tmp_path / "outbox" / f"{_key(n)}.json", (stamp, stamp))
    keys = {e.key for e in outbox.entries()}
    assert keys == {_key(2), _key(3), _key(4)}
    assert outbox.counters()["evicted_count"] == 2


def test_count_bound_is_kept_by_a_put_within_a_tenth(tmp_path: Path) -> None:
    """Puts alone (hooks whose delivery runs never start) keep the count within a tenth over
    its bound, and a delivery run's bounds bring it back to the bound, oldest first."""
    outbox = Outbox(tmp_path, OutboxLimits(max_events=20))
    for n in range(60):
        outbox.put(_key(n), _event(n))
        os.utime(tmp_path / "outbox" / f"{_key(n)}.json", (time.time() - 100 + n,) * 2)
        assert outbox.depth().events <= 22
    assert outbox.enforce_limits() > 0
    assert {e.key for e in outbox.entries()} == {_key(n) for n in range(40, 60)}
    assert outbox.counters()["evicted_count"] == 40


def test_byte_bound_evicts_the_oldest(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, OutboxLimits(max_bytes=600))
    for n in range(5):
        outbox.put(_key(n), _event(n))
        os.utime(tmp_path / "outbox" / f"{_key(n)}.json", (time.time() - 100 + n,) * 2)
    outbox.enforce_limits()  # what each delivery run does first
    depth = outbox.depth()
    assert depth.bytes <= 600
    assert depth.events < 5
    assert outbox.counters()["evicted_bytes"] == 5 - depth.events


def test_age_bound_evicts_old_events(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, OutboxLimits(max_age_seconds=3600))
    outbox.put(_key(1), _event(1))
    old = time.time() - 7200
    os.utime(tmp_path / "outbox" / f"{_key(1)}.json", (old, old))
    outbox.put(_key(2), _event(2))
    outbox.enforce_limits()  # what each delivery run does first
    assert [e.key for e in outbox.entries()] == [_key(2)]
    assert outbox.counters()["evicted_age"] == 1


@pytest.mark.parametrize("content", [b"{broken", b"[]", b'{"event": "x"}', b"\xff"])
def test_corrupt_files_are_quarantined(tmp_path: Path, content: bytes) -> None:
    outbox = Outbox(tmp_path)
    outbox.put(_key(1), _event(1))
    (tmp_path / "outbox" / f"{_key(2)}.json").write_bytes(content)
    assert [e.key for e in outbox.entries()] == [_key(1)]
    assert len(list((tmp_path / "quarantine").iterdir())) == 1
    assert outbox.counters()["quarantined"] == 1


def test_foreign_file_names_are_quarantined(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.put(_key(1), _event(1))
    (tmp_path / "outbox" / "notes.txt").write_text("hello")
    assert len(outbox.entries()) == 1
    assert (tmp_path / "quarantine").is_dir()


def test_unfinished_temp_files_are_ignored(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.put(_key(1), _event(1))
    (tmp_path / "outbox" / f".tmp-abc-{_key(2)}.json").write_text("{")
    assert [e.key for e in outbox.entries()] == [_key(1)]
    assert not (tmp_path / "quarantine").exists()


def test_dead_letter_keeps_the_reason_and_leaves_the_outbox(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.put(_key(1), _event(1))
    [entry] = outbox.entries()
    outbox.dead_letter(entry, "invalid", {"issues": [{"loc": ["tool_count"]}]})
    assert outbox.entries() == []
    [record] = outbox.dead_letters()
    assert record["reason"] == "invalid"
    assert record["event"] == _event(1)
    assert (tmp_path / "dead-letter" / f"{_key(1)}.json").stat().st_mode & 0o777 == 0o600


def test_dead_letter_folder_is_bounded(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, OutboxLimits(max_dead_letters=2))
    for n in range(4):
        outbox.put(_key(n), _event(n))
    for entry in outbox.entries():
        outbox.dead_letter(entry, "invalid", {})
    assert len(outbox.dead_letters()) == 2


def test_clear_removes_every_pending_event(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    for n in range(3):
        outbox.put(_key(n), _event(n))
    assert outbox.clear() == 3
    assert outbox.depth().events == 0


@pytest.mark.parametrize("bound", ["count", "bytes"])
def test_retry_dead_puts_back_only_what_fits_and_evicts_no_pending_event(
    tmp_path: Path, bound: str
) -> None:
    one = len(json.dumps({"v": 1, "enqueued_at": time.time(), "event": _event(0)}))
    limits = OutboxLimits(max_events=5) if bound == "count" else OutboxLimits(max_bytes=5 * one + 2)
    outbox = Outbox(tmp_path, limits)
    for n in range(10, 14):
        outbox.put(_key(n), _event(n))
        (entry,) = [e for e in outbox.entries() if e.key == _key(n)]
        outbox.dead_letter(entry, "invalid", {})
    for n in range(3):
        outbox.put(_key(n), _event(n))

    result = outbox.retry_dead()
    pending = {e.key for e in outbox.entries()}
    assert {_key(n) for n in range(3)} <= pending  # every event that never failed is still there
    assert result == (2, 2)
    assert len(pending) == 5
    assert len(outbox.dead_letters()) == 2
    assert not any(name.startswith("evicted") for name in outbox.counters())


def test_dead_letters_sent_back_by_the_bounds_keep_the_dead_letters_bound(tmp_path: Path) -> None:
    """Dead letters put back, then returned by the outbox's bounds while new ones came:
    the dead-letter folder still holds no more than its bound, the oldest pruned, counted."""
    outbox = Outbox(tmp_path, OutboxLimits(max_events=3, max_dead_letters=3))
    for n in range(3):
        outbox.put(_key(n), _event(n))
    for entry in outbox.entries():
        outbox.dead_letter(entry, "invalid", {})
    assert outbox.retry_dead() == (3, 0)
    for n in range(3, 6):  # new dead letters while the first three wait in the outbox
        outbox.put(_key(n), _event(n))
        (entry,) = [e for e in outbox.entries() if e.key == _key(n)]
        outbox.dead_letter(entry, "invalid", {})
    for n in range(6, 9):  # hooks fill the outbox: the three put back go back
        outbox.put(_key(n), _event(n))
    outbox.enforce_limits()
    assert {e.key for e in outbox.entries()} == {_key(n) for n in range(6, 9)}
    assert len(outbox.dead_letters()) == 3
    assert outbox.counters()["dead_letters_pruned"] == 3
    assert not any(name.startswith("evicted") for name in outbox.counters())
