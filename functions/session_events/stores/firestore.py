"""The Firestore store: one document per event, created with create() so the first one wins.

The read side queries the collection by `ended_at` (its automatic single-field index), by
`github_hash` == null and `ended_at` (a composite index) and by `identity_hash` and
`ended_at` (a composite index): every query passes through `_stream` or `_count`, and
infra/firestore.indexes.json declares each index they need (a test checks it). Rollups are
documents of the collection `<collection>_rollups`, written in one atomic batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

from session_events.errors import StoreUnavailable
from session_events.readmodel import Cursor, SessionPage, StoredEvent
from session_events.schema import format_timestamp, parse_rfc3339
from session_events.stores.base import EventRecord, Outcome

# google.rpc.Code values found in a BatchWrite response's per-write statuses.
_OK = 0
_ALREADY_EXISTS = 6

# Errors that mean "the store did not answer now", to be retried by the client later.
_UNAVAILABLE = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
    gexc.Aborted,
    gexc.InternalServerError,
    gexc.RetryError,
    gexc.Unauthenticated,
    gexc.PermissionDenied,
    gexc.NotFound,  # the database itself does not exist (yet)
    auth_exc.GoogleAuthError,
    TimeoutError,
    ConnectionError,
)


# One atomic batch holds at most this many writes.
MAX_BATCH_WRITES = 500
# Documents read per page when sessions are filtered here rather than by the query.
_SCAN_PAGE = 200


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


def _stored_fields(record: EventRecord) -> dict[str, Any]:
    data = record.fields()
    data["received_at"] = firestore.SERVER_TIMESTAMP
    return data


class FirestoreStore:
    """Documents in one collection, keyed by the derived ID; the client is made on first use."""

    def __init__(
        self, collection: str, *, project: str | None = None, timeout_s: float = 5.0
    ) -> None:
        self.collection = collection
        self._project = project
        self._timeout_s = timeout_s
        self._retry = gretry.Retry(
            predicate=gretry.if_transient_error,
            initial=0.05,
            maximum=1.0,
            multiplier=2.0,
            timeout=timeout_s,
        )
        self._client: firestore.Client | None = None
        self._lock = threading.Lock()

    def _collection(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    project = self._project or os.environ.get("GOOGLE_CLOUD_PROJECT")
                    if project is None and os.environ.get("FIRESTORE_EMULATOR_HOST"):
                        project = "demo-session-events"
                    try:
                        self._client = firestore.Client(project=project)
                    except _UNAVAILABLE as exc:
                        raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc
        return self._client.collection(self.collection)

    def put(self, record: EventRecord) -> Outcome:
        try:
            document = self._collection().document(record.key)
            document.create(_stored_fields(record), retry=self._retry, timeout=self._timeout_s)
        except gexc.AlreadyExists:
            return Outcome.DUPLICATE
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc
        return Outcome.ACCEPTED

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        """One BatchWrite RPC: writes succeed or fail one by one, so each keeps its verdict.

        Writes that fail for another reason than already-exists are sent once more; if any
        still fails, the whole request is unavailable and the client sends it again later
        (the events stored meanwhile then come back as duplicates).
        """
        outcomes: list[Outcome | None] = [None] * len(records)
        pending = list(range(len(records)))
        for _attempt in range(2):
            if not pending:
                break
            pending = self._write_batch(records, pending, outcomes)
        if pending:
            raise StoreUnavailable("firestore: batch writes failed")
        return [outcome for outcome in outcomes if outcome is not None]

    def _write_batch(
        self,
        records: Sequence[EventRecord],
        indexes: list[int],
        outcomes: list[Outcome | None],
    ) -> list[int]:
        try:
            collection = self._collection()
            batch = BulkWriteBatch(collection._client)
            for index in indexes:
                batch.create(
                    collection.document(records[index].key), _stored_fields(records[index])
                )
            response = batch.commit(retry=self._retry, timeout=self._timeout_s)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc
        failed = []
        for index, status in zip(indexes, response.status, strict=True):
            if status.code == _OK:
                outcomes[index] = Outcome.ACCEPTED
            elif status.code == _ALREADY_EXISTS:
                outcomes[index] = Outcome.DUPLICATE
            else:
                failed.append(index)
        return failed

    def ping(self) -> None:
        try:
            self._collection().document("_readyz").get(retry=None, timeout=self._timeout_s)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc

    # ---- read side ---------------------------------------------------------------------

    def _stream(self, query: Any) -> Iterator[Any]:
        """Every query's documents come through here."""
        try:
            yield from query.stream(retry=self._retry, timeout=self._timeout_s)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc

    def _count(self, query: Any) -> int:
        """Every count aggregation comes through here."""
        try:
            result = query.count(alias="n").get(retry=self._retry, timeout=self._timeout_s)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc
        return int(result[0][0].value)

    def _window(self, start: str, end: str) -> Any:
        return (
            self._collection()
            .where(filter=FieldFilter("ended_at", ">=", parse_rfc3339(start)))
            .where(filter=FieldFilter("ended_at", "<", parse_rfc3339(end)))
        )

    def events_between(self, start: str, end: str) -> Iterator[StoredEvent]:
        for snapshot in self._stream(self._window(start, end)):
            yield _read_event(snapshot.to_dict())

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

    def session(self, session_id_hash: str) -> StoredEvent | None:
        query = self._collection().where(
            filter=FieldFilter("session_id_hash", "==", session_id_hash)
        )
        events = [_read_event(snapshot.to_dict()) for snapshot in self._stream(query.limit(20))]
        return max(events, key=lambda event: event.ended_at, default=None)

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
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc

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
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"firestore: {type(exc).__name__}") from exc

    def sweep_expired(self, now: datetime) -> int:
        """Nothing to do: Firestore's TTL policy on `expire_at` deletes expired events."""
        return 0
