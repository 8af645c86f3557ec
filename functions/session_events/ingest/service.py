"""The use case: a validated event gets its key and server times, and the store keeps it once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from session_events.contract.rules import SessionEvent
from session_events.core.errors import StoreUnavailable
from session_events.stores.base import EventRecord, EventStore, Outcome


def utc_now() -> datetime:
    return datetime.now(UTC)


class IngestService:
    """Turns events into records and outcomes; knows nothing of HTTP."""

    def __init__(
        self,
        store: EventStore,
        *,
        retention_days: int = 365,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self._retention = timedelta(days=retention_days)
        self._clock = clock

    def _record(self, event: SessionEvent, received_at: datetime) -> EventRecord:
        # Stored times carry millisecond precision, as on the wire.
        received_at = received_at.replace(microsecond=received_at.microsecond // 1000 * 1000)
        return EventRecord(event, received_at, received_at + self._retention)

    def ingest(self, event: SessionEvent) -> Outcome:
        """ACCEPTED or DUPLICATE; an event the store cannot take now is StoreUnavailable."""
        outcome = self.store.put(self._record(event, self._clock()))
        if outcome is Outcome.RETRY:
            raise StoreUnavailable("the store did not take the event")
        return outcome

    def ingest_many(self, events: Sequence[SessionEvent | None]) -> list[Outcome]:
        """One outcome per item, in order; None items are invalid and never stored.

        A pair repeated inside one batch is stored once: later copies are duplicates, or
        RETRY like their first copy when the store could not take it now.
        """
        now = self._clock()
        outcomes: list[Outcome] = [Outcome.INVALID] * len(events)
        records: list[EventRecord] = []
        positions: list[int] = []
        first: dict[str, int] = {}  # key -> position of its first copy
        copies: list[tuple[int, int]] = []  # (position, position of the first copy)
        for position, event in enumerate(events):
            if event is None:
                continue
            record = self._record(event, now)
            if record.key in first:
                copies.append((position, first[record.key]))
                continue
            first[record.key] = position
            records.append(record)
            positions.append(position)
        if records:
            stored = self.store.put_many(records)
            if all(outcome is Outcome.RETRY for outcome in stored):
                raise StoreUnavailable("the store took none of the batch")
            for position, outcome in zip(positions, stored, strict=True):
                outcomes[position] = outcome
        for position, original in copies:
            retry = outcomes[original] is Outcome.RETRY
            outcomes[position] = Outcome.RETRY if retry else Outcome.DUPLICATE
        return outcomes
