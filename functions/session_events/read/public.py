"""The public statistics (CONTRACT §6.2): rollups read back and passed through the privacy rule."""

from __future__ import annotations

from datetime import date
from typing import Any

from session_events.rollups.documents import RollupReader, read_daily, read_refs, read_versions
from session_events.rollups.privacy import public_daily, public_refs, public_versions
from session_events.stores.readmodel import days_back


def last_run_day(store: RollupReader, today: date) -> date:
    """The last day of the last run's windows (today when no run has written yet)."""
    as_of, _rows = read_versions(store, "7d")
    return date.fromisoformat(as_of) if as_of else today


def daily(store: RollupReader, *, k: int, days: int, today: date) -> dict[str, Any]:
    rows = read_daily(store, days_back(last_run_day(store, today), days))
    return {"ok": True, "k": k, "rows": public_daily(rows, k)}


def versions(store: RollupReader, *, k: int, window: str) -> dict[str, Any]:
    _as_of, rows = read_versions(store, window)
    return {"ok": True, "k": k, "window": window, "rows": public_versions(rows, k)}


def refs(store: RollupReader, *, k: int, limit: int) -> dict[str, Any]:
    _as_of, rows = read_refs(store)
    return {"ok": True, "k": k, "window": "28d", "rows": public_refs(rows, k, limit)}
