"""Display text and links for the viewer: number and time formats, admin paths.

These return plain text; the templates escape whatever they print (autoescaping is on for
every template), and every path part goes through `urllib.parse.quote`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = "—"


# -- values --------------------------------------------------------------------------------


def num(value: object) -> str:
    """A count with thousands separators; None as a dash; anything else as its text."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return str(value)


def count(value: object) -> float:
    """A number for drawing: non-numbers and negatives count as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def instant(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def when(value: object) -> str:
    """A timestamp as `2026-05-22 12:34 UTC` (its text as given when it is not one)."""
    moment = instant(value)
    return str(value) if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def short_day(day: datetime) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}"


def parse_day(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def plural(number: int, noun: str) -> str:
    """`1 session`, `2 sessions` (with thousands separators)."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


# -- links ---------------------------------------------------------------------------------


def session_href(identity: object, session_id_hash: object) -> str:
    """The path of one identity's session page: a later event with the same session hash
    under another identity has a page of its own and never takes this one's place."""
    return (
        f"/admin/identities/{quote(str(identity), safe='')}"
        f"/sessions/{quote(str(session_id_hash), safe='')}/view"
    )


def ref_anchor(ref: object) -> str:
    """The id of a ref's row on the dashboard."""
    return f"ref-{ref}"


def ref_href(ref: object) -> str:
    """The dashboard link to a ref's row."""
    return f"/admin/#ref-{quote(str(ref), safe=':')}"


def dashboard_href(days: int, logged_in: bool | None, cursor: str | None = None) -> str:
    """The dashboard with a window, a filter and optionally a page cursor."""
    query: dict[str, str] = {"days": str(days)}
    if logged_in is not None:
        query["logged_in"] = "true" if logged_in else "false"
    if cursor is not None:
        query["cursor"] = cursor
    return "/admin/?" + urlencode(query)
