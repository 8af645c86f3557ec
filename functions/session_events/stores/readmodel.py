"""The read side's plain data: an event as a store hands it back, and a page cursor."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from session_events.core.timestamps import format_timestamp, parse_rfc3339


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event with the fields the rollups and the operator's view read.

    `ended_at` is the stored UTC text `YYYY-MM-DDTHH:MM:SS.mmmZ`: it sorts in time order
    and its first ten characters are the UTC day.
    """

    identity_hash: str
    session_id_hash: str
    ended_at: str
    tool_count: int
    tokens_saved: int
    plugin_version: str
    github_hash: str | None = None
    branch_sha: str | None = None
    discovery_refs: tuple[str, ...] = ()

    @property
    def day(self) -> str:
        return self.ended_at[:10]


def day_start(day: date) -> datetime:
    """00:00 UTC of a day."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def stamp(moment: datetime) -> str:
    """A datetime as the stored text, for comparisons with `ended_at`."""
    return format_timestamp(moment)


def days_back(last: date, count: int) -> list[date]:
    """The `count` UTC days ending with `last`, oldest first."""
    return [last - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


class InvalidCursor(ValueError):
    """A cursor the store did not hand out."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a newest-first page stopped: the last row's `ended_at` and a store tie-breaker."""

    ended_at: str
    tiebreak: str

    def encode(self) -> str:
        raw = json.dumps([self.ended_at, self.tiebreak], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            ended_at, tiebreak = json.loads(raw)
        except (ValueError, TypeError):
            raise InvalidCursor("malformed cursor") from None
        if not (isinstance(ended_at, str) and isinstance(tiebreak, str)):
            raise InvalidCursor("malformed cursor")
        if not _is_stored_time(ended_at) or not _is_store_key(tiebreak):
            raise InvalidCursor("malformed cursor")  # no store hands out such a position
        return cls(ended_at, tiebreak)


def _is_stored_time(text: str) -> bool:
    """`text` is a time as the stores write it (``YYYY-MM-DDTHH:MM:SS.mmmZ``)."""
    try:
        return format_timestamp(parse_rfc3339(text)) == text
    except ValueError:
        return False


def _is_store_key(text: str) -> bool:
    """A tie-breaker a store hands out: a document key (hex) or a row number (digits)."""
    return 0 < len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True, slots=True)
class SessionPage:
    """Sessions newest first, and the cursor of the next page (None at the end)."""

    events: list[StoredEvent]
    next_cursor: Cursor | None
