"""Rollups as stored documents (key -> compact JSON text) and back, the same on every store.

Keys: `daily:YYYY-MM-DD` (one per day), `versions:7d`, `versions:28d`, `refs:28d`. A
document whose rows would pass PART_CHARS is split: the head keeps the first rows and
`parts`, and `<key>:1`, `<key>:2`… hold the rest (a DynamoDB item holds at most 400 KB).
Documents hold counts, percentiles, versions, refs and days: never a hash or a session id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any, Protocol

from session_events.rollups.compute import DailyRow, RefRow, Rollups, VersionRow

PART_CHARS = 300_000


class RollupReader(Protocol):
    def read_rollups(self, keys: Sequence[str]) -> dict[str, str]: ...


def daily_key(day: str) -> str:
    return f"daily:{day}"


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _parts(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    parts: list[list[dict[str, Any]]] = [[]]
    size = 0
    for row in rows:
        length = len(_dump(row)) + 1
        if parts[-1] and size + length > PART_CHARS:
            parts.append([])
            size = 0
        parts[-1].append(row)
        size += length
    return parts


def _windowed(key: str, head: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, str]:
    parts = _parts(rows)
    documents = {key: _dump({**head, "parts": len(parts), "rows": parts[0]})}
    for number, part in enumerate(parts[1:], start=1):
        documents[f"{key}:{number}"] = _dump({"rows": part})
    return documents


def to_documents(rollups: Rollups) -> dict[str, str]:
    """Every document one run writes (all of them replace what was there)."""
    documents = {daily_key(row.day): _dump(asdict(row)) for row in rollups.daily}
    for window, rows in rollups.versions.items():
        head = {"as_of": rollups.as_of, "window": window}
        documents.update(_windowed(f"versions:{window}", head, [asdict(row) for row in rows]))
    head = {"as_of": rollups.as_of, "window": "28d"}
    documents.update(_windowed("refs:28d", head, [asdict(row) for row in rollups.refs]))
    return documents


def read_written_daily(store: RollupReader, days: Sequence[date]) -> dict[str, DailyRow]:
    """The daily rows some run has written for these days, by day (others are absent)."""
    keys = {daily_key(day.isoformat()): day.isoformat() for day in days}
    found = store.read_rollups(list(keys))
    return {keys[key]: DailyRow(**json.loads(body)) for key, body in found.items()}


def read_daily(store: RollupReader, days: Sequence[date]) -> list[DailyRow]:
    """The daily rows of these days, oldest first; a day no run has written counts zero."""
    written = read_written_daily(store, days)
    return [written.get(day.isoformat(), DailyRow(day.isoformat(), 0, 0)) for day in days]


def _read_windowed(store: RollupReader, key: str) -> tuple[str | None, list[dict[str, Any]]]:
    head_text = store.read_rollups([key]).get(key)
    if head_text is None:
        return None, []
    head = json.loads(head_text)
    rows: list[dict[str, Any]] = list(head["rows"])
    more = [f"{key}:{number}" for number in range(1, int(head["parts"]))]
    if more:
        found = store.read_rollups(more)
        for part_key in more:
            rows.extend(json.loads(found[part_key])["rows"])
    return str(head["as_of"]), rows


def read_versions(store: RollupReader, window: str) -> tuple[str | None, list[VersionRow]]:
    """(as_of, rows) of the last run's versions rollup over `window` (7d or 28d)."""
    as_of, rows = _read_windowed(store, f"versions:{window}")
    return as_of, [VersionRow(**row) for row in rows]


def read_refs(store: RollupReader) -> tuple[str | None, list[RefRow]]:
    """(as_of, rows) of the last run's refs rollup over 28 days."""
    as_of, rows = _read_windowed(store, "refs:28d")
    return as_of, [RefRow(**row) for row in rows]
