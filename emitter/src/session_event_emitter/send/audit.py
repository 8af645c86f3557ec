"""The local record of what left the machine: delivered events and the last delivery result.

``delivered.jsonl`` gets one line per event the server gave a verdict (accepted,
duplicate or invalid), written and synced before the event leaves the outbox; past 1 MiB
it is rotated once to ``delivered.jsonl.1``. ``last-delivery.json`` holds the outcome of
the most recent sender run for ``status``; while a run is under way it says so
(``running``, since when, until which deadline, its process), and a run that ended
without writing its outcome is read as cut short. Both are written only when the disk
allows: `disk_problem` and `disk_space_problem` put a refusal, or a full disk, in words.
"""

from __future__ import annotations

import calendar
import contextlib
import errno
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from session_event_emitter.fsutil import (
    PRIVATE_FILE_MODE,
    ensure_private_dir,
    read_bounded,
    read_json_object,
    unlink_quietly,
    write_atomic,
)

LOG_NAME = "delivered.jsonl"
LAST_DELIVERY_NAME = "last-delivery.json"
ROTATE_BYTES = 1024 * 1024
RUNNING = "running"
CUT_SHORT = "cut_short"
# Past its deadline a run is ended by the kernel within a grace second: give it that, and
# a little more, before its "running" is read as cut short whatever its process id says.
_RUNNING_GRACE_SECONDS = 3.0


def append_delivered(home: Path, records: Iterable[Mapping[str, object]]) -> None:
    """Append one JSON line per event with a verdict to the audit log, durably.

    All the lines or none: a write the disk cuts short is taken back (the file is cut to
    its former length), so a later line never lands glued to half of one. Raises OSError
    when the lines could not be written; the caller then keeps the events pending.
    """
    lines = b"".join(
        json.dumps(dict(record), separators=(",", ":")).encode("utf-8") + b"\n"
        for record in records
    )
    if not lines:
        return
    ensure_private_dir(home)
    path = home / LOG_NAME
    with contextlib.suppress(OSError):
        if path.stat().st_size + len(lines) > ROTATE_BYTES:
            os.replace(path, home / (LOG_NAME + ".1"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        before = os.fstat(fd).st_size  # one sender at a time writes here (sender.lock)
        try:
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise
    finally:
        os.close(fd)


def read_delivered(home: Path, limit: int = 0) -> list[dict[str, object]]:
    """Delivered records, oldest first; the last `limit` of them when `limit` > 0."""
    records: list[dict[str, object]] = []
    for name in (LOG_NAME + ".1", LOG_NAME):
        data = read_bounded(home / name, 2 * ROTATE_BYTES)
        if not data:
            continue
        for line in data.splitlines():
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
    return records[-limit:] if limit > 0 else records


def clear(home: Path) -> int:
    """Delete the audit log and the last delivery result; how many delivered records went."""
    records = len(read_delivered(home))
    for name in (LOG_NAME + ".1", LOG_NAME, LAST_DELIVERY_NAME):
        unlink_quietly(home / name)
    return records


def write_last_delivery(home: Path, result: Mapping[str, object]) -> None:
    ensure_private_dir(home)
    write_atomic(
        home / LAST_DELIVERY_NAME,
        json.dumps(dict(result), separators=(",", ":"), sort_keys=True).encode("utf-8"),
    )


def read_last_delivery(home: Path) -> dict[str, object]:
    return read_json_object(home / LAST_DELIVERY_NAME, 64 * 1024)


def disk_problem(home: Path, exc: OSError, what: str) -> str:
    """Why `what` (a file under `home`) could not be written, in words that name the disk."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{what} could not be written: no space left on the disk holding {home}"
    reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    return f"{what} could not be written under {home} ({reason})"


# Below this much free space the disk is called full: a record, a log line and a dead
# letter each need a block of their own.
FULL_DISK_BYTES = 64 * 1024


def disk_space_problem(home: Path) -> str | None:
    """Words for ``status`` when the disk holding `home` is (almost) full, else None."""
    try:
        stats = os.statvfs(home)
    except OSError:
        return None
    blocks = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail
    free = blocks * stats.f_frsize
    if free >= FULL_DISK_BYTES:
        return None
    return (
        f"no space left on the disk holding {home} ({free} bytes free): the sender still "
        "sends what is pending, but what the server answers cannot be recorded, so "
        "acknowledged events stay pending (and the last delivery shown may be old) "
        "until there is room"
    )


def _utc_text(epoch: float) -> str:
    whole = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(whole)) + (
        f"{int((epoch - whole) * 1000):03d}Z"
    )


def _epoch(text: object) -> float | None:
    if not isinstance(text, str) or len(text) < 19:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def running_record(deadline_seconds: float) -> dict[str, object]:
    """The record of a run starting now: what ``status`` shows while it goes on."""
    now = time.time()
    return {
        "at": _utc_text(now),
        "outcome": RUNNING,
        "started_at": _utc_text(now),
        "deadline_at": _utc_text(now + max(deadline_seconds, 0.0)),
        "pid": os.getpid(),
        "detail": "a delivery is running; its events stay pending until they have a verdict",
    }


def _process_alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    return True


def is_running(record: Mapping[str, object]) -> bool:
    """Whether the run this record describes is still under way."""
    if record.get("outcome") != RUNNING:
        return False
    deadline = _epoch(record.get("deadline_at"))
    if deadline is None or time.time() > deadline + _RUNNING_GRACE_SECONDS:
        return False
    return _process_alive(record.get("pid"))


def as_seen_now(record: dict[str, object]) -> dict[str, object]:
    """The record as it stands now: a "running" run that ended without its outcome (its
    deadline, a kill, a crash) is cut short."""
    if record.get("outcome") != RUNNING or is_running(record):
        return record
    return {
        **record,
        "outcome": CUT_SHORT,
        "detail": "the delivery that started then ended before it finished (its deadline, or "
        "its process was stopped); its events stay pending",
    }
