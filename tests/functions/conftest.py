"""Fixtures for the function: the real app through functions-framework, and real stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import functions_framework
import pytest
from flask.testing import FlaskClient
from moto import mock_aws
from support import MAIN, Backend, DynamoDbBackend, FirestoreBackend, SqliteBackend

from session_events.runtime import reset_runtime

STORE_ENV = (
    "SESSION_EVENTS_STORE",
    "SESSION_EVENTS_SQLITE_PATH",
    "SESSION_EVENTS_COLLECTION",
    "SESSION_EVENTS_RATE_LIMIT_PER_MINUTE",
    "SESSION_EVENTS_INGEST_TOKEN",
    "SESSION_EVENTS_RETENTION_DAYS",
    "SESSION_EVENTS_STORE_TIMEOUT_S",
    "SESSION_EVENTS_DYNAMODB_TABLE",
    "SESSION_EVENTS_DYNAMODB_ENDPOINT",
    "FIRESTORE_EMULATOR_HOST",
)


@pytest.fixture(autouse=True)
def _fresh_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in STORE_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_runtime()
    yield
    reset_runtime()


AppFactory = Callable[..., FlaskClient]


@pytest.fixture
def make_client(monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """A test client of the function as functions-framework serves it, with this env."""

    def make(**env: str) -> FlaskClient:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_runtime()
        return functions_framework.create_app(target="session_events", source=MAIN).test_client()

    return make


@pytest.fixture
def client(make_client: AppFactory, tmp_path: Path) -> FlaskClient:
    """The function on a fresh SQLite file."""
    return make_client(
        SESSION_EVENTS_STORE="sqlite", SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db")
    )


BACKENDS = ["sqlite", pytest.param("firestore", marks=pytest.mark.firestore), "dynamodb"]


@pytest.fixture
def moto_dynamodb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    """moto's DynamoDB for this test, with fake credentials and no AWS config of the user's."""
    for name in ("AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield boto3.client("dynamodb")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each real store the function can run on, empty."""
    if request.param == "firestore":
        return FirestoreBackend(request.getfixturevalue("firestore_emulator"))
    if request.param == "dynamodb":
        return DynamoDbBackend(request.getfixturevalue("moto_dynamodb"))
    return SqliteBackend(tmp_path / "events.db")


@pytest.fixture
def backend_client(make_client: AppFactory, backend: Backend) -> FlaskClient:
    return make_client(**backend.env)
