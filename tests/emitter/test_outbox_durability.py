"""An event put in the outbox is on disk, bytes and name, before put returns."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from session_event_emitter import fsutil
from session_event_emitter.outbox import Outbox


def _fsyncs(monkeypatch: pytest.MonkeyPatch, target: Path) -> list[tuple[int, bool, bool]]:
    """Record each fsync as (inode, is a directory, whether `target` existed at the time)."""
    calls: list[tuple[int, bool, bool]] = []
    real = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        calls.append((st.st_ino, stat.S_ISDIR(st.st_mode), target.exists()))
        real(fd)

    monkeypatch.setattr(fsutil.os, "fsync", spy)
    return calls


def test_outbox_put_makes_the_event_and_its_name_durable_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tmp_path / "state")
    key = "a" * 64
    pending = Path(outbox.pending_dir) / f"{key}.json"
    calls = _fsyncs(monkeypatch, pending)
    assert outbox.put(key, {"n": 1}) is True
    synced = [(inode, is_dir) for inode, is_dir, _ in calls]
    file_synced = (pending.stat().st_ino, False)
    assert file_synced in synced
    dir_synced_after_the_name = (Path(outbox.pending_dir).stat().st_ino, True, True)
    assert dir_synced_after_the_name in calls[synced.index(file_synced) :]
    assert [entry.event for entry in outbox.entries()] == [{"n": 1}]
