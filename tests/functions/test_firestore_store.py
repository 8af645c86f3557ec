"""Firestore specifics on the official emulator: document IDs, field types, unavailability."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from conftest import AppFactory
from loopback import free_port
from support import FirestoreBackend, event

pytestmark = pytest.mark.firestore


@pytest.fixture
def firestore_backend(firestore_emulator: str) -> FirestoreBackend:
    return FirestoreBackend(firestore_emulator)


def test_document_id_is_sha256_of_the_pair(
    make_client: AppFactory, firestore_backend: FirestoreBackend
) -> None:
    payload = event()
    assert (
        make_client(**firestore_backend.env).post("/v1/session-events", json=payload).status_code
        == 202
    )
    [(doc_id, data)] = firestore_backend.documents()
    pair = f"{payload['identity_hash']}:{payload['session_id_hash']}"
    assert doc_id == hashlib.sha256(pair.encode()).hexdigest()
    assert isinstance(data["ended_at"], datetime)
    assert isinstance(data["received_at"], datetime)
    assert isinstance(data["expire_at"], datetime)
    assert data["discovery_refs"] == ["skill:grep", "doc:readme"]
    assert data["schema_version"] == 1


def test_unreachable_emulator_is_503_with_retry_after(make_client: AppFactory) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="firestore",
        FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{free_port()}",
        GOOGLE_CLOUD_PROJECT="demo-session-events",
        SESSION_EVENTS_STORE_TIMEOUT_S="1",
    )
    answer = client.post("/v1/session-events", json=event())
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "store_unavailable"}
    assert int(answer.headers["Retry-After"]) > 0
    assert client.get("/readyz").status_code == 503
