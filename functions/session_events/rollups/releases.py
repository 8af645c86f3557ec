"""Public releases as stored documents: one per ISO week, written once, read by the answers.

Key `release:2026-W48` among the rollup documents, created with the store's write-once
`create_rollup`, so no later run can change a published week. The answers read releases
only, through `released`; nothing here imports OpenDP (the computation is release.py's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from session_events.rollups.weeks import IsoWeek, weeks_back
from session_events.stores.base import ReadStore

KEY_PREFIX = "release:"
DELTA = 1e-7
# Weeks a reader looks back for releases: the most one answer lists (52), with room for
# the release delay and for weeks that were never released.
SEARCH_WEEKS = 60


@dataclass(frozen=True, slots=True)
class ReleaseSettings:
    """ε per identity-week, K, the declared (public) versions and refs, the release delay."""

    epsilon: float = 1.0
    k: int = 10
    public_versions: tuple[str, ...] = ()
    public_refs: tuple[str, ...] = ()
    delay_days: int = 3


def release_key(week: IsoWeek) -> str:
    return f"{KEY_PREFIX}{week.name}"


@lru_cache(maxsize=1)
def _library() -> str:
    """The installed OpenDP, read from its metadata (OpenDP itself is not imported here)."""
    return f"opendp {version('opendp')}"


def privacy_block(epsilon: float, library: str | None = None) -> dict[str, Any]:
    """The `privacy` object of every public answer."""
    return {
        "unit": "identity-week",
        "epsilon": epsilon,
        "delta": DELTA,
        "library": library or _library(),
    }


def write_release(store: ReadStore, document: dict[str, Any]) -> bool:
    """Store a week's release unless one exists (then it stays as it was): True if written."""
    week = IsoWeek.parse(str(document["week"]))
    body = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return store.create_rollup(release_key(week), body)


def read_releases(store: ReadStore, weeks: Sequence[IsoWeek]) -> dict[str, dict[str, Any]]:
    """The stored releases of these weeks, by week name (a week without one is absent)."""
    keys = {release_key(week): week.name for week in weeks}
    found = store.read_rollups(list(keys))
    return {keys[key]: json.loads(body) for key, body in found.items()}


def released(store: ReadStore, now: datetime, count: int) -> list[dict[str, Any]]:
    """Up to `count` releases, newest first, from the weeks before `now`."""
    weeks = weeks_back(now, SEARCH_WEEKS)
    found = read_releases(store, weeks)
    return [found[week.name] for week in weeks if week.name in found][:count]
