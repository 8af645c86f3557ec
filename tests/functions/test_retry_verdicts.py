"""Per-event `retry` verdicts, and true `accepted` verdicts for writes sent more than once.

An event the store cannot take now is `{"status": "retry"}` in a batch answer and never
turns the other events into a 503; the single endpoint answers 503 for it. A write sent
again after its answer was lost, that finds its own first attempt stored, is `accepted`;
one that finds another request's write is `duplicate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import AppFactory
from google.api_core import exceptions as gexc
from support import BATCH_URL, URL, FirestoreBackend, event, hexhash

from session_events.contract.schema import SessionEvent
from session_events.core.errors import StoreUnavailable
from session_events.ingest.service import IngestService
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.memory import MemoryStore


def make_event(seed: str) -> SessionEvent:
    return SessionEvent.model_validate(event(session_id_hash=hexhash(seed)))


def make_record(seed: str) -> EventRecord:
    now = datetime.now(UTC)
    return EventRecord(make_event(seed), now, now + timedelta(days=1))


class RefusingStore(MemoryStore):
    """Takes every event but those of the refused sessions, which are RETRY."""

    def __init__(self, *refused: str) -> None:
        super().__init__()
        self.refused = {hexhash(seed) for seed in refused}

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        return [
            Outcome.RETRY if record.event.session_id_hash in self.refused else self.put(record)
            for record in records
        ]


# --- the service --------------------------------------------------------------------------


def test_event_the_store_cannot_take_is_retry_and_the_others_are_stored() -> None:
    store = RefusingStore("b")
    outcomes = IngestService(store).ingest_many([make_event("a"), make_event("b"), None])
    assert outcomes == [Outcome.ACCEPTED, Outcome.RETRY, Outcome.INVALID]
    assert len(store.rows) == 1


def test_copy_of_an_event_the_store_could_not_take_is_retry_too() -> None:
    outcomes = IngestService(RefusingStore("b")).ingest_many(
        [make_event("b"), make_event("a"), make_event("b"), make_event("a")]
    )
    assert outcomes == [Outcome.RETRY, Outcome.ACCEPTED, Outcome.RETRY, Outcome.DUPLICATE]


def test_batch_the_store_takes_none_of_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        IngestService(RefusingStore("a", "b")).ingest_many([make_event("a"), make_event("b")])


def test_single_event_the_store_cannot_take_is_store_unavailable() -> None:
    class Refuses(MemoryStore):
        def put(self, record: EventRecord) -> Outcome:
            return Outcome.RETRY

    with pytest.raises(StoreUnavailable):
        IngestService(Refuses()).ingest(make_event("a"))


def test_sqlite_row_the_database_refuses_is_retry_and_the_others_stored(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import session_events.stores.sqlite.store as sqlite_module

    real_row = sqlite_module._row
    refused = make_record("refused").key

    def row(record: EventRecord) -> tuple[object, ...]:
        values = real_row(record)
        return (None, *values[1:]) if record.key == refused else values  # NOT NULL broken

    monkeypatch.setattr(sqlite_module, "_row", row)
    store = sqlite_module.SqliteStore(str(tmp_path / "events.db"))
    outcomes = store.put_many([make_record("a"), make_record("refused"), make_record("b")])
    assert outcomes == [Outcome.ACCEPTED, Outcome.RETRY, Outcome.ACCEPTED]
    store.close()


# --- through HTTP, on DynamoDB (moto) -----------------------------------------------------


@pytest.fixture
def refusing_dynamodb(
    make_client: AppFactory, moto_dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The function on DynamoDB where every put of session 'refused' fails for good."""
    from session_events.runtime import get_runtime
    from session_events.stores.dynamodb.store import DynamoDbStore
    from session_events.stores.dynamodb.table import create_table

    create_table(moto_dynamodb, "events")
    client = make_client(
        SESSION_EVENTS_STORE="dynamodb",
        SESSION_EVENTS_DYNAMODB_TABLE="events",
        SESSION_EVENTS_STORE_TIMEOUT_S="0.5",
    )
    store = get_runtime().store
    assert isinstance(store, DynamoDbStore)
    dynamo = store.client()
    real_put = dynamo.put_item

    def put_item(**params: Any) -> Any:
        if params["Item"]["session_id_hash"]["S"] == hexhash("refused"):
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "x"},
                 "ResponseMetadata": {"HTTPStatusCode": 500}},
                "PutItem",
            )  # fmt: skip
        return real_put(**params)

    monkeypatch.setattr(dynamo, "put_item", put_item)
    return SimpleNamespace(http=client, table=moto_dynamodb)


def test_batch_with_an_event_the_store_refuses_answers_200_with_retry_for_it(
    refusing_dynamodb: Any,
) -> None:
    events = [event(session_id_hash=hexhash(seed)) for seed in ("a", "refused", "b")]
    answer = refusing_dynamodb.http.post(BATCH_URL, json={"events": events})
    assert answer.status_code == 200
    statuses = [result["status"] for result in answer.get_json()["results"]]
    assert statuses == ["accepted", "retry", "accepted"]
    stored = refusing_dynamodb.table.scan(TableName="events")["Items"]
    assert {item["session_id_hash"]["S"] for item in stored} == {hexhash("a"), hexhash("b")}


def test_the_refused_event_alone_on_the_single_endpoint_is_503(refusing_dynamodb: Any) -> None:
    answer = refusing_dynamodb.http.post(URL, json=event(session_id_hash=hexhash("refused")))
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "store_unavailable"}
    assert "Retry-After" in answer.headers


def test_retry_count_is_in_the_log_line(
    refusing_dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    events = [event(session_id_hash=hexhash(seed)) for seed in ("a", "refused")]
    refusing_dynamodb.http.post(BATCH_URL, json={"events": events})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["accepted"], line["retry"]) == (1, 1)


# --- Firestore, on the emulator -----------------------------------------------------------


@pytest.fixture
def firestore_store(firestore_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from session_events.stores.firestore.store import FirestoreStore

    backend = FirestoreBackend(firestore_emulator)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    store = FirestoreStore(backend.collection, project="demo-session-events", timeout_s=15.0)
    return SimpleNamespace(store=store, backend=backend)


def answer_lost_once(real: Any, error: type[Exception] = gexc.ServiceUnavailable) -> Any:
    """A write whose first call is carried out but answered with `error` (the answer lost)."""
    calls: list[int] = []

    def write(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        result = real(*args, **kwargs)
        if len(calls) == 1:
            raise error("the answer was lost")
        return result

    return write


def refused_once(real: Any) -> Any:
    """A write whose first call is refused as "not now" without being carried out."""
    calls: list[int] = []

    def write(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise gexc.ServiceUnavailable("not now")
        return real(*args, **kwargs)

    return write


@pytest.mark.firestore
def test_firestore_create_sent_again_after_a_lost_answer_is_accepted(
    firestore_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.document import DocumentReference

    monkeypatch.setattr(DocumentReference, "create", answer_lost_once(DocumentReference.create))
    assert firestore_store.store.put(make_record("a")) is Outcome.ACCEPTED
    assert len(firestore_store.backend.documents()) == 1


@pytest.mark.firestore
def test_firestore_create_sent_again_that_finds_another_write_is_a_duplicate(
    firestore_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.document import DocumentReference

    assert firestore_store.store.put(make_record("a")) is Outcome.ACCEPTED  # another request
    monkeypatch.setattr(DocumentReference, "create", refused_once(DocumentReference.create))
    assert firestore_store.store.put(make_record("a")) is Outcome.DUPLICATE


@pytest.mark.firestore
def test_firestore_create_sent_again_that_finds_a_document_without_token_is_a_duplicate(
    firestore_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.document import DocumentReference

    record = make_record("a")
    firestore_store.store._collection().document(record.key).create({"tool_count": 1})
    monkeypatch.setattr(DocumentReference, "create", refused_once(DocumentReference.create))
    assert firestore_store.store.put(record) is Outcome.DUPLICATE


@pytest.mark.firestore
def test_firestore_batch_sent_again_after_a_lost_answer_keeps_true_verdicts(
    firestore_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

    assert firestore_store.store.put(make_record("old")) is Outcome.ACCEPTED
    monkeypatch.setattr(BulkWriteBatch, "commit", answer_lost_once(BulkWriteBatch.commit))
    outcomes = firestore_store.store.put_many(
        [make_record("new-1"), make_record("old"), make_record("new-2")]
    )
    assert outcomes == [Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.ACCEPTED]
    assert len(firestore_store.backend.documents()) == 3


@pytest.mark.firestore
def test_firestore_batch_write_refused_alone_is_retry_and_the_others_stored(
    firestore_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

    doomed = make_record("doomed").key
    real = BulkWriteBatch.commit

    def commit_refusing_one(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The write of the doomed document is refused by the store, the others go through.
        keep = [pb for pb in self._write_pbs if not pb.update.name.endswith(doomed)]
        refused_at = [n for n, pb in enumerate(self._write_pbs) if pb not in keep]
        self._write_pbs = keep
        response = real(self, *args, **kwargs)
        statuses = list(response.status)
        for position in refused_at:
            statuses.insert(position, SimpleNamespace(code=13))  # INTERNAL
        return SimpleNamespace(status=statuses)

    monkeypatch.setattr(BulkWriteBatch, "commit", commit_refusing_one)
    firestore_store.store.ping()  # the channel is up: the doomed write's retries need not wait
    firestore_store.store._timeout_s = 1.0
    outcomes = firestore_store.store.put_many(
        [make_record("a"), make_record("doomed"), make_record("b")]
    )
    assert outcomes == [Outcome.ACCEPTED, Outcome.RETRY, Outcome.ACCEPTED]
    stored = {data["session_id_hash"] for _id, data in firestore_store.backend.documents()}
    assert stored == {hexhash("a"), hexhash("b")}
