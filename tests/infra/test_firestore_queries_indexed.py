"""Every query the rollup job, the operator's view and erasure make on Firestore is indexed.

The emulator answers queries that production would refuse for want of a composite index, so
this test records each query the store really runs (on the emulator) and checks it against
infra/firestore.indexes.json the way Firestore chooses indexes.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from session_events.contract.schema import SessionEvent
from session_events.rollups.job import run_rollup
from session_events.stores.base import EventRecord
from session_events.stores.firestore.store import FirestoreStore
from session_events.stores.readmodel import Cursor

ROOT = Path(__file__).resolve().parents[2]
INDEXES = json.loads((ROOT / "infra" / "firestore.indexes.json").read_text())
COLLECTION = "session_events"
EQUALITY = {"EQUAL", "IN", "IS_NULL", "IS_NAN"}  # `in` is a union of equalities


def shape(query: Any) -> tuple[frozenset[str], list[tuple[str, str]], set[str]]:
    """(equality fields, orders without __name__, range fields) of a StructuredQuery."""
    equal: set[str] = set()
    ranges: set[str] = set()

    def walk(node: Any) -> None:
        kind = node._pb.WhichOneof("filter_type")
        if kind == "composite_filter":
            for child in node.composite_filter.filters:
                walk(child)
        elif kind == "field_filter":
            op = node.field_filter.op.name
            (equal if op in EQUALITY else ranges).add(node.field_filter.field.field_path)
        elif kind == "unary_filter":
            equal.add(node.unary_filter.field.field_path)

    if query._pb.HasField("where"):
        walk(query.where)
    orders = [
        (order.field.field_path, order.direction.name)
        for order in query.order_by
        if order.field.field_path != "__name__"
    ]
    if ranges and not orders:
        orders = [(sorted(ranges)[0], "ASCENDING")]
    return frozenset(equal), orders, ranges


def exempt(field: str, group: str = COLLECTION) -> bool:
    return any(
        o["collectionGroup"] == group and o["fieldPath"] == field and o.get("indexes") == []
        for o in INDEXES["fieldOverrides"]
    )


def backed(query: Any) -> bool:
    """Whether Firestore would serve the query from a single-field or a declared index."""
    equal, orders, ranges = shape(query)
    fields = {name for name, _ in orders} | ranges
    if len(ranges) > 1 or not ranges <= {name for name, _ in orders[:1]}:
        return False
    if not equal or not fields:  # one field, or equalities merged from single-field indexes
        return not any(exempt(name) for name in equal | fields) and len(fields) <= 1
    for index in INDEXES["indexes"]:
        if index["collectionGroup"] != COLLECTION or index["queryScope"] != "COLLECTION":
            continue
        declared = [(f["fieldPath"], f["order"]) for f in index["fields"]]
        head, tail = declared[: len(equal)], declared[len(equal) :]
        if {name for name, _ in head} == equal and tail == orders:
            return True
    return False


@pytest.fixture
def recorded(firestore_emulator: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-session-events")
    queries: list[Any] = []
    stream, count = FirestoreStore._stream, FirestoreStore._count

    def recording_stream(self: FirestoreStore, query: Any, **options: Any) -> Any:
        queries.append(query._to_protobuf())
        return stream(self, query, **options)

    def recording_count(self: FirestoreStore, query: Any) -> int:
        queries.append(query._to_protobuf())
        return count(self, query)

    monkeypatch.setattr(FirestoreStore, "_stream", recording_stream)
    monkeypatch.setattr(FirestoreStore, "_count", recording_count)
    return queries


@pytest.mark.firestore
def test_every_query_of_the_job_the_operator_view_and_erasure_is_indexed(
    recorded: list[Any],
) -> None:
    # A cold emulator on a busy machine can take seconds over its first request.
    store = FirestoreStore(f"session_events_{uuid.uuid4().hex[:12]}", timeout_s=30)
    received = datetime(2026, 5, 28, tzinfo=UTC)
    records = []
    for n in range(6):
        body = {
            "identity_hash": f"{n:064x}",
            "session_id_hash": f"{n + 100:064x}",
            "ended_at": f"2026-05-2{n}T10:00:00.000Z",
            "tool_count": n,
            "tokens_saved": n,
            "plugin_version": "1.0.0",
            "github_hash": f"{n + 200:064x}" if n % 2 else None,
        }
        records.append(
            EventRecord(SessionEvent.model_validate(body), received, received + timedelta(1))
        )
    store.put_many(records)
    run_rollup(store, days=8, clock=lambda: received)
    window = ("2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z")
    after = Cursor("2026-05-24T10:00:00.000Z", records[4].key)
    for logged_in in (None, True, False):
        store.count_between(*window, logged_in)
        store.sessions_page(*window, limit=2, logged_in=logged_in, after=None)
        store.sessions_page(*window, limit=2, logged_in=logged_in, after=after)
    store.session_senders(f"{100:064x}", 100)
    store.session(f"{0:064x}", f"{100:064x}")
    store.identity_sessions(f"{1:064x}", *window, 50)
    assert store.erase_identities([f"{n:064x}" for n in (1, 2, 77)]) == 2
    assert len(recorded) >= 13
    unbacked = [str(query) for query in recorded if not backed(query)]
    assert unbacked == []


def test_the_checker_refuses_a_query_no_index_serves() -> None:
    from google.cloud import firestore

    client = firestore.Client(project="demo-session-events", credentials=_anonymous())
    query = (
        client.collection(COLLECTION)
        .where(filter=firestore.FieldFilter("plugin_version", "==", "1.0.0"))
        .order_by("ended_at", direction=firestore.Query.DESCENDING)
    )
    assert not backed(query._to_protobuf())


def test_the_checker_refuses_a_range_on_an_exempt_field() -> None:
    from google.cloud import firestore

    client = firestore.Client(project="demo-session-events", credentials=_anonymous())
    query = client.collection(COLLECTION).where(
        filter=firestore.FieldFilter("received_at", ">=", datetime(2026, 1, 1, tzinfo=UTC))
    )
    assert not backed(query._to_protobuf())


def test_the_checker_accepts_the_declared_identity_index() -> None:
    from google.cloud import firestore

    client = firestore.Client(project="demo-session-events", credentials=_anonymous())
    query = (
        client.collection(COLLECTION)
        .where(filter=firestore.FieldFilter("identity_hash", "==", "a" * 64))
        .where(filter=firestore.FieldFilter("ended_at", ">=", datetime(2026, 1, 1, tzinfo=UTC)))
        .order_by("ended_at", direction=firestore.Query.DESCENDING)
    )
    assert backed(query._to_protobuf())


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()
