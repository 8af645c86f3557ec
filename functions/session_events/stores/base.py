"""The store port: what the service and the read side ask of any store, and the records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from session_events.contract.rules import SessionEvent

if TYPE_CHECKING:  # the read side's types, loaded by the stores' reads (off the ingest path)
    from session_events.stores.readmodel import Cursor, SessionPage, StoredEvent


class Outcome(StrEnum):
    """What happened to one event."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    RETRY = "retry"  # not stored: the store could not take it now; send it again later


def document_id(identity_hash: str, session_id_hash: str) -> str:
    """The idempotency key as a store key: sha256(identity_hash + ":" + session_id_hash) hex."""
    return hashlib.sha256(f"{identity_hash}:{session_id_hash}".encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A validated event ready to store, with its key and server-side times."""

    event: SessionEvent
    received_at: datetime
    expire_at: datetime

    @property
    def key(self) -> str:
        return document_id(self.event.identity_hash, self.event.session_id_hash)

    def fields(self) -> dict[str, Any]:
        """Every stored field, in native Python types (each adapter encodes them its way)."""
        event = self.event
        return {
            "identity_hash": event.identity_hash,
            "github_hash": event.github_hash,
            "session_id_hash": event.session_id_hash,
            "ended_at": event.ended_at,
            "tool_count": event.tool_count,
            "tokens_saved": event.tokens_saved,
            "branch_sha": event.branch_sha,
            "discovery_refs": event.refs,
            "plugin_version": event.plugin_version,
            "schema_version": event.schema_version,
            "received_at": self.received_at,
            "expire_at": self.expire_at,
        }


class EventStore(Protocol):
    """Stores events exactly once per key; raises StoreUnavailable when it cannot answer.

    Each call's whole work, retries included, ends within the store's timeout
    (SESSION_EVENTS_STORE_TIMEOUT_S). A write retried after a lost answer that finds its own
    first attempt stored is ACCEPTED, not DUPLICATE.
    """

    def put(self, record: EventRecord) -> Outcome:
        """Store the record unless its key exists: ACCEPTED, or DUPLICATE (nothing changed)."""
        ...

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        """Like put for each record (keys are distinct), one outcome per record, in order.

        A record the store could not take now is RETRY while others got their verdict;
        when no record got one, StoreUnavailable is raised instead.
        """
        ...

    def ping(self) -> None:
        """Return when the store answers; raise StoreUnavailable otherwise."""
        ...

    def erase_identities(self, identity_hashes: Sequence[str]) -> int:
        """Delete every event of these identities (erasure); how many were deleted.

        The work ends within the store's timeout; past it, StoreUnavailable is raised and
        what was already deleted stays deleted, so a repeat deletes the rest.
        """
        ...


# The rollup document that records when an erasure last ran (its time only, never who):
# the next rollup run recomputes every older day the operator can view after it.
LAST_ERASURE_KEY = "erasure:last"


@runtime_checkable
class ReadStore(Protocol):
    """What the rollup job and the operator's view ask of a store (README.md, "The read side").

    Times are the stored UTC text `YYYY-MM-DDTHH:MM:SS.mmmZ`; `start` is inclusive and `end`
    exclusive. `logged_in` True keeps sessions with a `github_hash`, False those without,
    None all. Every method raises StoreUnavailable when the store cannot answer.
    """

    def events_between(self, start: str, end: str) -> Iterable[StoredEvent]:
        """Every event whose `ended_at` is in [start, end), in no particular order."""
        ...

    def count_between(self, start: str, end: str, logged_in: bool | None) -> int:
        """How many events `events_between` would give (filtered by `logged_in`)."""
        ...

    def sessions_page(
        self, start: str, end: str, *, limit: int, logged_in: bool | None, after: Cursor | None
    ) -> SessionPage:
        """Up to `limit` events in [start, end), newest first, after the cursor."""
        ...

    def session_senders(self, session_id_hash: str, limit: int) -> list[str]:
        """The identity hashes of up to `limit` events with this session id hash, in the
        order they were stored (earliest `received_at` first): the first is the one whose
        event no later sender can displace."""
        ...

    def session(self, identity_hash: str, session_id_hash: str) -> StoredEvent | None:
        """The event of this identity with this session id hash (the idempotency key)."""
        ...

    def identity_sessions(
        self, identity_hash: str, start: str, end: str, limit: int
    ) -> list[StoredEvent]:
        """Up to `limit` events of one identity in [start, end), newest first."""
        ...

    def write_rollups(self, documents: Mapping[str, str]) -> None:
        """Put every rollup document (key -> JSON text), replacing them, all or none."""
        ...

    def create_rollup(self, key: str, body: str) -> bool:
        """Put one document only where none has this key: True if it was written, False if
        one was there already (and is left as it was). Public releases are written this way."""
        ...

    def read_rollups(self, keys: Sequence[str]) -> dict[str, str]:
        """The rollup documents of these keys that exist."""
        ...

    def sweep_expired(self, now: datetime) -> int:
        """Delete events whose `expire_at` has passed (where no TTL does it); how many."""
        ...
