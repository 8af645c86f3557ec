"""The Firestore store: one document per event, created with create() so the first one wins.

Every write attempt has a gRPC deadline of what is left of the call's budget
(SESSION_EVENTS_STORE_TIMEOUT_S), and attempts are repeated only while budget is left.
Each write stores a random `write_token` with the document: a create repeated after a lost
answer that finds a document with its own token found its own first attempt (accepted),
where any other token is a real duplicate.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

from session_events.core.deadline import Deadline
from session_events.core.errors import StoreUnavailable
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.firestore.errors import TRANSIENT, UNAVAILABLE
from session_events.stores.firestore.reads import FirestoreReads

# google.rpc.Code values found in a BatchWrite response's per-write statuses.
_OK = 0
_ALREADY_EXISTS = 6

TOKEN_FIELD = "write_token"  # noqa: S105 (a field name, not a secret)

# Erasure deletes the documents one query finds in one atomic batch (at most 500 writes);
# an `in` filter takes at most 30 values.
ERASE_PAGE = 500
ERASE_IN_VALUES = 30

# First pause before an attempt is repeated (doubled each time, within the deadline).
_FIRST_BACKOFF_S = 0.05


def _stored_fields(record: EventRecord, token: str) -> dict[str, Any]:
    data = record.fields()
    data["received_at"] = firestore.SERVER_TIMESTAMP
    data[TOKEN_FIELD] = token
    return data


class FirestoreStore(FirestoreReads):
    """Documents in one collection, keyed by the derived ID; the client is made on first use."""

    erase_page = ERASE_PAGE

    def __init__(
        self, collection: str, *, project: str | None = None, timeout_s: float = 4.0
    ) -> None:
        self.collection = collection
        self._project = project
        self._timeout_s = timeout_s
        self._client: firestore.Client | None = None
        self._lock = threading.Lock()

    def _describe(self, what: BaseException | str) -> str:
        """Which resource and what went wrong: an error by its type (its text may name a
        document, whose ID is derived from hashes), or the given words."""
        project = self._project or os.environ.get("GOOGLE_CLOUD_PROJECT") or "(default project)"
        if isinstance(what, BaseException):
            what = type(what).__name__
        return f"firestore: project {project}, collection {self.collection}: {what}"

    def _collection(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    project = self._project or os.environ.get("GOOGLE_CLOUD_PROJECT")
                    if project is None and os.environ.get("FIRESTORE_EMULATOR_HOST"):
                        project = "demo-session-events"
                    try:
                        self._client = firestore.Client(project=project)
                    except (*UNAVAILABLE, OSError, ValueError) as exc:
                        raise StoreUnavailable(
                            f"firestore: cannot create a client: {type(exc).__name__}: {exc}"
                        ) from exc
        return self._client.collection(self.collection)

    def put(self, record: EventRecord) -> Outcome:
        deadline = Deadline(self._timeout_s)
        token = secrets.token_hex(16)
        document = self._collection().document(record.key)
        data = _stored_fields(record, token)
        repeated = False
        delay = _FIRST_BACKOFF_S
        while True:
            try:
                document.create(data, retry=None, timeout=deadline.remaining())
            except gexc.AlreadyExists:
                if repeated and self._tokens([document], deadline).get(record.key) == token:
                    return Outcome.ACCEPTED
                return Outcome.DUPLICATE
            except TRANSIENT as exc:
                if not deadline.pause_before_retry(delay):
                    raise StoreUnavailable(self._describe(exc)) from exc
                repeated, delay = True, delay * 2
                continue
            except UNAVAILABLE as exc:
                raise StoreUnavailable(self._describe(exc)) from exc
            return Outcome.ACCEPTED

    def _tokens(self, documents: list[Any], deadline: Deadline) -> dict[str, Any]:
        """Document ID -> stored write token of the given documents, in one read."""
        try:
            snapshots = self._collection()._client.get_all(
                documents, field_paths=[TOKEN_FIELD], retry=None, timeout=deadline.remaining()
            )
            # A document written without a token (before tokens existed) is not ours.
            found = [snap for snap in snapshots if snap.exists]
            return {snap.id: (snap.to_dict() or {}).get(TOKEN_FIELD) for snap in found}
        except UNAVAILABLE as exc:
            raise StoreUnavailable(self._describe(exc)) from exc

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        """BatchWrite RPCs: writes succeed or fail one by one, so each keeps its verdict.

        Writes that failed, or whose RPC failed, are sent again while the deadline allows;
        the ones still not written then are RETRY. When no write got a verdict at all, the
        store is unavailable.
        """
        if not records:
            return []
        deadline = Deadline(self._timeout_s)
        token = secrets.token_hex(16)
        collection = self._collection()
        outcomes: list[Outcome | None] = [None] * len(records)
        pending = list(range(len(records)))
        repeated: set[int] = set()  # sent in an RPC whose answer was lost
        own_or_duplicate: list[int] = []
        failure = self._describe("batch not written")
        delay = _FIRST_BACKOFF_S
        while pending:
            try:
                batch = BulkWriteBatch(collection._client)
                for index in pending:
                    batch.create(
                        collection.document(records[index].key),
                        _stored_fields(records[index], token),
                    )
                response = batch.commit(retry=None, timeout=deadline.remaining())
            except TRANSIENT as exc:
                failure = self._describe(exc)
                repeated.update(pending)
            except UNAVAILABLE as exc:
                failure = self._describe(exc)
                break
            else:
                failed = []
                for index, status in zip(pending, response.status, strict=True):
                    if status.code == _OK:
                        outcomes[index] = Outcome.ACCEPTED
                    elif status.code == _ALREADY_EXISTS and index in repeated:
                        own_or_duplicate.append(index)
                    elif status.code == _ALREADY_EXISTS:
                        outcomes[index] = Outcome.DUPLICATE
                    else:
                        failed.append(index)
                if failed:
                    codes = sorted({response.status[pending.index(i)].code for i in failed})
                    failure = self._describe(f"writes refused with codes {codes}")
                pending = failed
            if pending and not deadline.pause_before_retry(delay):
                break
            delay *= 2
        if own_or_duplicate:
            self._settle(records, own_or_duplicate, token, outcomes, deadline)
        verdicts = [Outcome.RETRY if outcome is None else outcome for outcome in outcomes]
        if all(verdict is Outcome.RETRY for verdict in verdicts):
            raise StoreUnavailable(failure)
        return verdicts

    def _settle(
        self,
        records: Sequence[EventRecord],
        indexes: list[int],
        token: str,
        outcomes: list[Outcome | None],
        deadline: Deadline,
    ) -> None:
        """Tell our own earlier writes (same token) from real duplicates; unknown stays None."""
        collection = self._collection()
        documents = [collection.document(records[index].key) for index in indexes]
        try:
            found = self._tokens(documents, deadline)
        except StoreUnavailable:
            return
        for index in indexes:
            key = records[index].key
            if key in found:
                outcomes[index] = Outcome.ACCEPTED if found[key] == token else Outcome.DUPLICATE

    def ping(self) -> None:
        deadline = Deadline(self._timeout_s)
        document = self._collection().document("_readyz")
        try:
            document.get(retry=None, timeout=deadline.remaining())
        except UNAVAILABLE as exc:
            message = f"{type(exc).__name__}: {getattr(exc, 'message', '') or exc}"[:300]
            raise StoreUnavailable(self._describe(message)) from exc

    def erase_identities(self, identity_hashes: Sequence[str]) -> int:
        """Find the identities' documents (`identity_hash in [...]`, names only, a page at a
        time) and delete each page in one batch, until no page is left or time is up."""
        deadline = Deadline(self._timeout_s)
        collection = self._collection()
        erased = 0
        for start in range(0, len(identity_hashes), ERASE_IN_VALUES):
            chunk = list(identity_hashes[start : start + ERASE_IN_VALUES])
            query = (
                collection.where(filter=FieldFilter("identity_hash", "in", chunk))
                .select(["__name__"])
                .limit(self.erase_page)
            )
            while True:
                if deadline.expired:
                    unfinished = f"erasure unfinished at {self._timeout_s:g} s"
                    raise StoreUnavailable(self._describe(unfinished))
                found = [
                    snapshot.reference
                    for snapshot in self._stream(query, timeout=deadline.remaining())
                ]
                if found:
                    self._delete_batch(collection, found, deadline)
                    erased += len(found)
                if len(found) < self.erase_page:
                    break
        return erased

    def _delete_batch(self, collection: Any, references: list[Any], deadline: Deadline) -> None:
        """Delete the documents in one atomic batch, sent again after a transient error."""
        batch = collection._client.batch()
        for reference in references:
            batch.delete(reference)
        delay = _FIRST_BACKOFF_S
        while True:
            try:
                batch.commit(retry=None, timeout=deadline.remaining())
                return
            except TRANSIENT as exc:
                if not deadline.pause_before_retry(delay):
                    raise StoreUnavailable(self._describe(exc)) from exc
                delay *= 2
            except UNAVAILABLE as exc:
                raise StoreUnavailable(self._describe(exc)) from exc
