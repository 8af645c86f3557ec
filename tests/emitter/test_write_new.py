"""write_new: a new private file, all-or-nothing for readers, durable once it returns."""

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


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "files"
    path.mkdir()
    return path


def test_new_file_holds_the_bytes_with_mode_0600(directory: Path) -> None:
    target = directory / "event.json"
    assert fsutil.write_new(target, b'{"a":1}') is True
    assert target.read_bytes() == b'{"a":1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_existing_file_is_kept_and_reported(directory: Path) -> None:
    target = directory / "event.json"
    target.write_bytes(b"first")
    assert fsutil.write_new(target, b"second") is False
    assert target.read_bytes() == b"first"


def test_no_temporary_file_is_left_behind(directory: Path) -> None:
    fsutil.write_new(directory / "a.json", b"1")
    fsutil.write_new(directory / "a.json", b"2")
    assert sorted(p.name for p in directory.iterdir()) == ["a.json"]


def test_file_and_directory_are_fsynced_after_the_name_exists(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = directory / "event.json"
    calls = _fsyncs(monkeypatch, target)
    fsutil.write_new(target, b"x" * 1000)
    assert calls == [(target.stat().st_ino, False, True), (directory.stat().st_ino, True, True)]


def test_without_hard_links_the_first_writer_still_wins(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise PermissionError(1, "hard links not supported")

    monkeypatch.setattr(fsutil.os, "link", no_links)
    target = directory / "event.json"
    assert fsutil.write_new(target, b"first") is True
    assert fsutil.write_new(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in directory.iterdir()) == ["event.json"]


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
