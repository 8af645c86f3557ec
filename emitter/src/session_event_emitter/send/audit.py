"""The local record of what left the machine: delivered events and the last delivery result.

``delivered.jsonl`` gets one line per event the server acknowledged (accepted or
duplicate); past 1 MiB it is rotated once to ``delivered.jsonl.1``.
``last-delivery.json`` holds the outcome of the most recent sender run for ``status``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from session_event_emitter.fsutil import (
    PRIVATE_FILE_MODE,
    ensure_private_dir,
    read_bounded,
    read_json_object,
    write_atomic,
)

LOG_NAME = "delivered.jsonl"
LAST_DELIVERY_NAME = "last-delivery.json"
ROTATE_BYTES = 1024 * 1024


def append_delivered(home: Path, records: Iterable[Mapping[str, object]]) -> None:
    """Append one JSON line per acknowledged event to the audit log."""
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
        os.write(fd, lines)
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


def write_last_delivery(home: Path, result: Mapping[str, object]) -> None:
    ensure_private_dir(home)
    write_atomic(
        home / LAST_DELIVERY_NAME,
        json.dumps(dict(result), separators=(",", ":"), sort_keys=True).encode("utf-8"),
    )


def read_last_delivery(home: Path) -> dict[str, object]:
    return read_json_object(home / LAST_DELIVERY_NAME, 64 * 1024)
