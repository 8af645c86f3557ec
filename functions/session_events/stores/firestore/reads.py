"""The Firestore store's read side: window, session and identity queries, rollup documents.

The collection is queried by `ended_at` (its automatic single-field index), by
`github_hash` == null and `ended_at`, by `identity_hash` and `ended_at`, and by
`session_id_hash` and `received_at` (the order one session hash's senders were stored in),
each with a composite index. Every query passes through `_stream` or `_count`, and
infra/firestore.indexes.json declares each index they need (a test records the queries and
checks them). One event is read by its document ID. Rollups are documents of the
collection `<collection>_rollups`, written in one atomic batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from session_events.core.errors import StoreUnavailable
from session_events.core.timestamps import format_timestamp, parse_rfc3339
from session_events.stores.base import document_id
from session_events.stores.firestore.errors import UNAVAILABLE
from session_events.stores.readmodel import Cursor, SessionPage, StoredEvent

# One atomic batch holds at most this many writes.
MAX_BATCH_WRITES = 500
# Documents read per page when sessions are filtered here rather than by the query.
_SCAN_PAGE = 200
# The job reads its window in pages of this many documents, each its own query with a
# deadline of its own (one stream over a whole window would outlast any deadline).
WINDOW_PAGE = 2_000
WINDOW_PAGE_TIMEOUT_S = 60.0


def _read_event(data: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        identity_hash=data["identity_hash"],
        session_id_hash=data["session_id_hash"],
        ended_at=format_timestamp(data["ended_at"]),
        tool_count=int(data["tool_count"]),
        tokens_saved=int(data["tokens_saved"]),
        plugin_version=data["plugin_version"],
        github_hash=data.get("github_hash"),
        branch_sha=data.get("branch_sha"),
        discovery_refs=tuple(data.get("discovery_refs") or ()),
    )


class FirestoreReads:
    """The read methods of `FirestoreStore`, which provides the collection and the budget."""

    collection: str
    _timeout_s: float

    @property
    def _retry(self) -> Any:
        """Reads are retried on transient errors, within the store's timeout per call."""
        from google.api_core import retry as gretry

        return gretry.Retry(
            predicate=gretry.if_transient_error,
            initial=0.05,
            maximum=1.0,
            multiplier=2.0,
            timeout=self._timeout_s,
        )

    def _collection(self) -> Any:
        raise NotImplementedError

    def _stream(self, query: Any, timeout: float | None = None) -> Iterator[Any]:
        """Every query's documents come through here."""
        try:
            yield from query.stream(retry=self._retry, timeout=timeout or self._timeout_s)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc

    def _count(self, query: Any) -> int:
        """Every count aggregation comes through here."""
        try:
            result = query.count(alias="n").get(retry=self._retry, timeout=self._timeout_s)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc
        return int(result[0][0].value)

    def _window(self, start: str, end: str) -> Any:
        return (
            self._collection()
            .where(filter=FieldFilter("ended_at", ">=", parse_rfc3339(start)))
            .where(filter=FieldFilter("ended_at", "<", parse_rfc3339(end)))
        )

    def events_between(self, start: str, end: str) -> Iterator[StoredEvent]:
        """The window in pages ordered by (`ended_at`, document ID), each after the last."""
        ordered = self._window(start, end).order_by("ended_at").order_by("__name__")
        last: Any = None
        while True:
            query = ordered.limit(WINDOW_PAGE)
            if last is not None:
                query = query.start_after(last)
            read = 0
            timeout = max(self._timeout_s, WINDOW_PAGE_TIMEOUT_S)
            for snapshot in self._stream(query, timeout=timeout):
                read += 1
                last = snapshot
                yield _read_event(snapshot.to_dict())
            if read < WINDOW_PAGE:
                return

    def count_between(self, start: str, end: str, logged_in: bool | None) -> int:
        total = self._count(self._window(start, end))
        if logged_in is None:
            return total
        anonymous = self._count(
            self._anonymous(start, end).order_by("ended_at", direction=firestore.Query.DESCENDING)
        )
        return anonymous if logged_in is False else total - anonymous

    def _anonymous(self, start: str, end: str) -> Any:
        return self._window(start, end).where(filter=FieldFilter("github_hash", "==", None))

    def sessions_page(
        self, start: str, end: str, *, limit: int, logged_in: bool | None, after: Cursor | None
    ) -> SessionPage:
        base = self._anonymous(start, end) if logged_in is False else self._window(start, end)
        base = base.order_by("ended_at", direction=firestore.Query.DESCENDING).order_by(
            "__name__", direction=firestore.Query.DESCENDING
        )
        found: list[tuple[Cursor, StoredEvent]] = []
        position = after
        # Logged-in sessions are picked here: `github_hash != null` cannot be combined with
        # the order on ended_at without ordering by github_hash first.
        size = limit + 1 if logged_in is not True else max(_SCAN_PAGE, limit + 1)
        while len(found) <= limit:
            query = base
            if position is not None:
                query = query.start_after(
                    {"ended_at": parse_rfc3339(position.ended_at), "__name__": position.tiebreak}
                )
            batch = list(self._stream(query.limit(size)))
            for snapshot in batch:
                event = _read_event(snapshot.to_dict())
                position = Cursor(event.ended_at, snapshot.id)
                if logged_in is not True or event.github_hash is not None:
                    found.append((position, event))
            if len(batch) < size:
                break
        page = found[:limit]
        cursor = page[-1][0] if len(found) > limit and page else None
        return SessionPage([event for _cursor, event in page], cursor)

    def session_senders(self, session_id_hash: str, limit: int) -> list[str]:
        """In the order stored: `received_at` (the server's commit time), then document ID."""
        query = (
            self._collection()
            .where(filter=FieldFilter("session_id_hash", "==", session_id_hash))
            .order_by("received_at")
            .order_by("__name__")
            .select(["identity_hash"])
            .limit(limit)
        )
        return [str(snapshot.get("identity_hash")) for snapshot in self._stream(query)]

    def session(self, identity_hash: str, session_id_hash: str) -> StoredEvent | None:
        document = self._collection().document(document_id(identity_hash, session_id_hash))
        try:
            snapshot = document.get(retry=self._retry, timeout=self._timeout_s)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc
        return _read_event(snapshot.to_dict()) if snapshot.exists else None

    def identity_sessions(
        self, identity_hash: str, start: str, end: str, limit: int
    ) -> list[StoredEvent]:
        query = (
            self._window(start, end)
            .where(filter=FieldFilter("identity_hash", "==", identity_hash))
            .order_by("ended_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [_read_event(snapshot.to_dict()) for snapshot in self._stream(query)]

    def _rollups(self) -> Any:
        collection = self._collection()
        return collection._client.collection(f"{self.collection}_rollups")

    def write_rollups(self, documents: Mapping[str, str]) -> None:
        """One atomic batch: every document is written, or none is."""
        if len(documents) > MAX_BATCH_WRITES:
            raise ValueError(f"at most {MAX_BATCH_WRITES} rollup documents per run")
        try:
            rollups = self._rollups()
            batch = rollups._client.batch()
            for key, body in documents.items():
                batch.set(rollups.document(key), {"body": body})
            batch.commit(retry=self._retry, timeout=self._timeout_s)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc

    def create_rollup(self, key: str, body: str) -> bool:
        """One `create()`: Firestore refuses it where the document exists."""
        try:
            self._rollups().document(key).create(
                {"body": body}, retry=self._retry, timeout=self._timeout_s
            )
        except gexc.AlreadyExists:
            return False
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc
        return True

    def read_rollups(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        try:
            rollups = self._rollups()
            snapshots = rollups._client.get_all(
                [rollups.document(key) for key in keys], retry=self._retry, timeout=self._timeout_s
            )
            return {
                snapshot.id: str(snapshot.get("body")) for snapshot in snapshots if snapshot.exists
            }
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc

    def sweep_expired(self, now: datetime) -> int:
        """Nothing to do: Firestore's TTL policy on `expire_at` deletes expired events."""
        return 0
