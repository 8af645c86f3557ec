"""The Firestore store: one document per event, created with create() so the first one wins."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc
from google.cloud import firestore
from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

from session_events.errors import StoreUnavailable
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.firestore_read import FirestoreReads

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


def _stored_fields(record: EventRecord) -> dict[str, Any]:
    data = record.fields()
    data["received_at"] = firestore.SERVER_TIMESTAMP
    return data


class FirestoreStore(FirestoreReads):
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
