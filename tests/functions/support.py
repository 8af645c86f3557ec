"""Helpers for the function's tests: a valid event, hashes, and readers of each real store."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from session_events.contract.schema import format_timestamp

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "functions" / "main.py")
FIXTURE_EVENT = json.loads((ROOT / "tests" / "fixtures" / "event.json").read_text())
URL = "/v1/session-events"
BATCH_URL = "/v1/session-events/batch"


def event(**changes: Any) -> dict[str, Any]:
    """A valid event (the fixture file) with some fields changed; None values are removed."""
    body = {**FIXTURE_EVENT, **changes}
    return {key: value for key, value in body.items() if value is not None}


def hexhash(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


class Backend(Protocol):
    name: str
    env: dict[str, str]

    def rows(self) -> list[dict[str, Any]]: ...


class SqliteBackend:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {"SESSION_EVENTS_STORE": "sqlite", "SESSION_EVENTS_SQLITE_PATH": str(path)}

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with sqlite3.connect(self.path) as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute("SELECT * FROM session_events ORDER BY rowid").fetchall()
        rows = []
        for row in found:
            data = dict(row)
            data["discovery_refs"] = json.loads(data.pop("discovery_refs_json"))
            rows.append(data)
        return rows


class FirestoreBackend:
    name = "firestore"

    def __init__(self, host: str) -> None:
        self.collection = f"session_events_{uuid.uuid4().hex[:12]}"
        self.env = {
            "SESSION_EVENTS_STORE": "firestore",
            "FIRESTORE_EMULATOR_HOST": host,
            "GOOGLE_CLOUD_PROJECT": "demo-session-events",
            "SESSION_EVENTS_COLLECTION": self.collection,
            # A cold emulator on a busy machine can take seconds over its first request.
            "SESSION_EVENTS_STORE_TIMEOUT_S": "30",
        }
        self.host = host

    def documents(self) -> list[tuple[str, dict[str, Any]]]:
        from google.cloud import firestore

        previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = self.host
        try:
            db = firestore.Client(project="demo-session-events")
            return [
                (doc.id, doc.to_dict() or {}) for doc in db.collection(self.collection).stream()
            ]
        finally:
            if previous is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = previous

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for _doc_id, data in self.documents():
            for name in ("ended_at", "received_at", "expire_at"):
                data[name] = format_timestamp(data[name])
            data.pop("schema_version", None)
            rows.append(data)
        return sorted(rows, key=lambda row: row["received_at"])


class DynamoDbBackend:
    name = "dynamodb"

    def __init__(self, client: Any) -> None:
        from session_events.stores.dynamodb.table import create_table

        self.client = client
        self.table = f"session_events_{uuid.uuid4().hex[:12]}"
        create_table(client, self.table)
        self.env = {
            "SESSION_EVENTS_STORE": "dynamodb",
            "SESSION_EVENTS_DYNAMODB_TABLE": self.table,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def rows(self) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        from session_events.stores.dynamodb.reads import ROLLUP_PREFIX

        deserialize = TypeDeserializer().deserialize
        rows = []
        for item in self.client.scan(TableName=self.table, ConsistentRead=True)["Items"]:
            if item["pk"]["S"].startswith(ROLLUP_PREFIX):
                continue  # a rollup document sharing the table, not an event
            data = {name: deserialize(value) for name, value in item.items()}
            del data["pk"]
            data.pop("schema_version", None)
            data["tool_count"] = int(data["tool_count"])
            data["tokens_saved"] = int(data["tokens_saved"])
            expire_at = datetime.fromtimestamp(int(data["expire_at"]), UTC)
            data["expire_at"] = format_timestamp(expire_at)
            rows.append(data)
        return sorted(rows, key=lambda row: row["received_at"])
