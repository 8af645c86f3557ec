"""An in-memory store for unit tests of the service and for a throwaway local server."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from session_events.stores.base import EventRecord, Outcome


class MemoryStore:
    """Keeps events in a dict keyed by the derived document ID."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
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
