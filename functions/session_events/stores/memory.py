"""An in-memory store for unit tests of the service and for a throwaway local server."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from session_events.core.timestamps import format_timestamp
from session_events.stores.base import EventRecord, Outcome, document_id
from session_events.stores.readmodel import Cursor, SessionPage, StoredEvent


def _stored(fields: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        identity_hash=fields["identity_hash"],
        session_id_hash=fields["session_id_hash"],
        ended_at=format_timestamp(fields["ended_at"]),
        tool_count=fields["tool_count"],
        tokens_saved=fields["tokens_saved"],
        plugin_version=fields["plugin_version"],
        github_hash=fields["github_hash"],
        branch_sha=fields["branch_sha"],
        discovery_refs=tuple(fields["discovery_refs"]),
    )


def _logged_in_matches(event: StoredEvent, logged_in: bool | None) -> bool:
    return logged_in is None or (event.github_hash is not None) == logged_in


class MemoryStore:
    """Keeps events in a dict keyed by the derived document ID."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.rollups: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, record: EventRecord) -> Outcome:
        with self._lock:
            if record.key in self.rows:
                return Outcome.DUPLICATE
            self.rows[record.key] = record.fields()
            return Outcome.ACCEPTED

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        return [self.put(record) for record in records]

    def ping(self) -> None:
        return None

    def erase_identities(self, identity_hashes: Sequence[str]) -> int:
        wanted = set(identity_hashes)
        with self._lock:
            erased = [key for key, fields in self.rows.items() if fields["identity_hash"] in wanted]
            for key in erased:
                del self.rows[key]
        return len(erased)

    # ---- read side ---------------------------------------------------------------------

    def _between(self, start: str, end: str) -> list[tuple[str, StoredEvent]]:
        with self._lock:
            items = list(self.rows.items())
        found = [(key, _stored(fields)) for key, fields in items]
        return [(key, event) for key, event in found if start <= event.ended_at < end]

    def events_between(self, start: str, end: str) -> list[StoredEvent]:
        return [event for _key, event in self._between(start, end)]

    def count_between(self, start: str, end: str, logged_in: bool | None) -> int:
        return sum(
            1 for _key, event in self._between(start, end) if _logged_in_matches(event, logged_in)
        )

    def sessions_page(
        self, start: str, end: str, *, limit: int, logged_in: bool | None, after: Cursor | None
    ) -> SessionPage:
        found = [
            (event.ended_at, key, event)
            for key, event in self._between(start, end)
            if _logged_in_matches(event, logged_in)
            and (after is None or (event.ended_at, key) < (after.ended_at, after.tiebreak))
        ]
        found.sort(key=lambda item: (item[0], item[1]), reverse=True)
        page = found[:limit]
        cursor = Cursor(page[-1][0], page[-1][1]) if len(found) > limit and page else None
        return SessionPage([event for _at, _key, event in page], cursor)

    def session_senders(self, session_id_hash: str, limit: int) -> list[str]:
        """In the order stored: `received_at`, then the order of insertion."""
        with self._lock:
            matches = [
                fields
                for fields in self.rows.values()
                if fields["session_id_hash"] == session_id_hash
            ]
        matches.sort(key=lambda fields: fields["received_at"])  # stable: insertion order
        return [fields["identity_hash"] for fields in matches[:limit]]

    def session(self, identity_hash: str, session_id_hash: str) -> StoredEvent | None:
        with self._lock:
            fields = self.rows.get(document_id(identity_hash, session_id_hash))
        return None if fields is None else _stored(fields)

    def identity_sessions(
        self, identity_hash: str, start: str, end: str, limit: int
    ) -> list[StoredEvent]:
        found = [
            event
            for event in self.events_between(start, end)
            if event.identity_hash == identity_hash
        ]
        found.sort(key=lambda event: event.ended_at, reverse=True)
        return found[:limit]

    def write_rollups(self, documents: Mapping[str, str]) -> None:
        if not all(isinstance(body, str) for body in documents.values()):
            raise TypeError("a rollup document is text")
        with self._lock:
            self.rollups.update(documents)

    def create_rollup(self, key: str, body: str) -> bool:
        with self._lock:
            if key in self.rollups:
                return False
            self.rollups[key] = body
            return True

    def read_rollups(self, keys: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return {key: self.rollups[key] for key in keys if key in self.rollups}

    def sweep_expired(self, now: datetime) -> int:
        with self._lock:
            expired = [key for key, fields in self.rows.items() if fields["expire_at"] <= now]
            for key in expired:
                del self.rows[key]
        return len(expired)
