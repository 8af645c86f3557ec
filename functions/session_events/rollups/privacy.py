"""The publication rule of the public statistics (CONTRACT §6.2), on plain rows.

- K (`SESSION_EVENTS_PUBLISH_K`, default 10) is never below MIN_K.
- A row that describes fewer than K distinct identities is published with its numbers null
  and `suppressed: true`; a ref below K is not listed at all.
- Complementary suppression: where exactly one row of a group would be suppressed, the next
  smallest row (fewest identities, then fewest sessions) is suppressed too, so no hidden
  number follows from the others and a total.
- Published counts are rounded to the nearest 5 and never shown below K (a count that
  would round below K is shown as K rounded up to a multiple of 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from session_events.rollups.compute import DailyRow, RefRow, VersionRow

MIN_K = 5
DEFAULT_K = 10


def publish_count(value: int, k: int) -> int:
    """`value` (>= k) rounded to the nearest 5, and never below k."""
    rounded = (value + 2) // 5 * 5
    floor = -(-k // 5) * 5
    return max(rounded, floor)


def suppressed_positions(identities: Sequence[int], sessions: Sequence[int], k: int) -> set[int]:
    """Positions of the rows of one group that are not published."""
    hidden = {i for i, count in enumerate(identities) if count < k}
    if len(hidden) == 1 and len(identities) > 1:
        others = [i for i in range(len(identities)) if i not in hidden]
        hidden.add(min(others, key=lambda i: (identities[i], sessions[i], i)))
    return hidden


def public_daily(rows: Sequence[DailyRow], k: int) -> list[dict[str, Any]]:
    """The daily rows of one fixed window (one group), oldest first."""
    hidden = suppressed_positions(
        [row.identities for row in rows], [row.sessions for row in rows], k
    )
    return [
        {"day": row.day, "identities": None, "sessions": None, "suppressed": True}
        if i in hidden
        else {
            "day": row.day,
            "identities": publish_count(row.identities, k),
            "sessions": publish_count(row.sessions, k),
            "suppressed": False,
        }
        for i, row in enumerate(rows)
    ]


def public_versions(rows: Sequence[VersionRow], k: int) -> list[dict[str, Any]]:
    """The versions rows of one window (one group)."""
    hidden = suppressed_positions(
        [row.identities for row in rows], [row.sessions for row in rows], k
    )
    published: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if i in hidden:
            published.append(
                {
                    "version": row.version,
                    "identities": None,
                    "sessions": None,
                    "tool_count": {"p50": None, "p90": None},
                    "tokens_saved": {"p50": None, "p90": None},
                    "suppressed": True,
                }
            )
        else:
            published.append(
                {
                    "version": row.version,
                    "identities": publish_count(row.identities, k),
                    "sessions": publish_count(row.sessions, k),
                    "tool_count": {"p50": row.tool_count_p50, "p90": row.tool_count_p90},
                    "tokens_saved": {"p50": row.tokens_saved_p50, "p90": row.tokens_saved_p90},
                    "suppressed": False,
                }
            )
    return published


def public_refs(rows: Sequence[RefRow], k: int, limit: int) -> list[dict[str, Any]]:
    """Refs seen by at least K identities (the others are not named), most used first."""
    listed = [row for row in rows if row.identities >= k]
    listed.sort(key=lambda row: (-row.identities, -row.sessions, row.ref))
    return [
        {
            "ref": row.ref,
            "identities": publish_count(row.identities, k),
            "sessions": publish_count(row.sessions, k),
            "first_seen_day": row.first_seen_day,
            "last_seen_day": row.last_seen_day,
        }
        for row in listed[:limit]
    ]
