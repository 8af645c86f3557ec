"""SESSION_EVENTS_STORE_TIMEOUT_S bounds one request's whole store work, on every adapter.

Each store here hangs: a database locked by another connection, a request stuck inside the
store, a loopback server that accepts connections and never answers, a client call that
never returns. The answer must be 503 store_unavailable, and it must come back: each call
runs in a thread joined with a generous liveness bound (never a timing assertion). Where a
client's own retries could stretch the work, a fake clock counts the time spent instead.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from conftest import AppFactory
from google.api_core import exceptions as gexc
from support import BATCH_URL, URL, event, hexhash

from session_events.contract.schema import SessionEvent
from session_events.core.deadline import Deadline
from session_events.core.errors import StoreUnavailable
from session_events.ingest.service import IngestService
from session_events.stores.base import EventRecord, Outcome

T = TypeVar("T")

# "Not forever": far above any timeout set below, far below a hang.
LIVENESS_S = 60
TIMEOUT = "0.3"


def returns(call: Callable[[], T]) -> T:
    """The result of `call`, which must come back within the liveness bound."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(LIVENESS_S)
    assert not thread.is_alive(), "the call never came back"
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """host:port of a loopback server that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        held: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            server.settimeout(0.1)
            while not stop.is_set():
                try:
                    held.append(server.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield f"127.0.0.1:{server.getsockname()[1]}"
        stop.set()
        thread.join()
        for connection in held:
            connection.close()


def unavailable(answer: Any) -> None:
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "store_unavailable"}
    assert int(answer.headers["Retry-After"]) >= 1


def batch() -> dict[str, Any]:
    return {"events": [event(session_id_hash=hexhash(f"s{n}")) for n in range(5)]}


# --- SQLite -------------------------------------------------------------------------------


@pytest.fixture
def locked_sqlite(tmp_path: Path) -> Iterator[Path]:
    """A database another connection holds the write lock of."""
    path = tmp_path / "events.db"
    from session_events.stores.sqlite.store import SqliteStore

    SqliteStore(str(path)).ping()  # creates the file and its table
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield path
    holder.execute("ROLLBACK")
    holder.close()


def test_sqlite_locked_by_another_writer_answers_503(
    make_client: AppFactory, locked_sqlite: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_SQLITE_PATH=str(locked_sqlite), SESSION_EVENTS_STORE_TIMEOUT_S=TIMEOUT
    )
    unavailable(returns(lambda: client.post(URL, json=event())))
    unavailable(returns(lambda: client.post(BATCH_URL, json=batch())))


def test_sqlite_request_behind_one_stuck_in_the_store_answers_503(tmp_path: Path) -> None:
    from session_events.stores.sqlite.store import SqliteStore

    store = SqliteStore(str(tmp_path / "events.db"), timeout_s=0.3)
    service = IngestService(store)
    # Another request is inside the store and does not come out.
    with store._lock, pytest.raises(StoreUnavailable, match="busy"):
        returns(lambda: service.ingest(SessionEvent.model_validate(event())))


# --- DynamoDB -----------------------------------------------------------------------------


def dynamodb_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_dynamodb_endpoint_that_never_answers_gives_503(
    make_client: AppFactory,
    silent_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    dynamodb_env(monkeypatch, tmp_path)
    client = make_client(
        SESSION_EVENTS_STORE="dynamodb",
        SESSION_EVENTS_DYNAMODB_ENDPOINT=f"http://{silent_endpoint}",
        SESSION_EVENTS_STORE_TIMEOUT_S=TIMEOUT,
    )
    unavailable(returns(lambda: client.post(URL, json=event())))
    unavailable(returns(lambda: client.post(BATCH_URL, json=batch())))
    unavailable(returns(lambda: client.get("/readyz")))


@pytest.fixture
def hanging_put(moto_dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A DynamoDB store (on moto) whose put_item never returns for events marked 'hang'."""
    from session_events.stores.dynamodb.store import DynamoDbStore
    from session_events.stores.dynamodb.table import create_table

    create_table(moto_dynamodb, "events")
    store = DynamoDbStore("events", timeout_s=0.3)
    client = store.client()
    real_put = client.put_item
    release = threading.Event()
    hang_keys: set[str] = set()

    def put_item(**params: Any) -> Any:
        if params["Item"]["pk"]["S"] in hang_keys:
            release.wait()  # no timeout of any client applies here
        return real_put(**params)

    monkeypatch.setattr(client, "put_item", put_item)
    yield SimpleNamespace(store=store, hang=hang_keys.add)
    release.set()
    store.close()


def record(seed: str) -> EventRecord:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    event_ = SessionEvent.model_validate(event(session_id_hash=hexhash(seed)))
    return EventRecord(event_, now, now + timedelta(days=1))


def test_dynamodb_put_that_never_returns_gives_store_unavailable(hanging_put: Any) -> None:
    stuck = record("stuck")
    hanging_put.hang(stuck.key)
    with pytest.raises(StoreUnavailable, match="no answer within"):
        returns(lambda: hanging_put.store.put(stuck))


def test_dynamodb_batch_put_that_never_returns_is_retry_and_the_rest_stored(
    hanging_put: Any,
) -> None:
    records = [record(f"s{n}") for n in range(5)]
    hanging_put.hang(records[2].key)
    outcomes = returns(lambda: hanging_put.store.put_many(records))
    assert outcomes == [Outcome.RETRY if n == 2 else Outcome.ACCEPTED for n in range(5)]


# --- Firestore ----------------------------------------------------------------------------


def test_firestore_endpoint_that_never_answers_gives_503(
    make_client: AppFactory, silent_endpoint: str
) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="firestore",
        FIRESTORE_EMULATOR_HOST=silent_endpoint,
        GOOGLE_CLOUD_PROJECT="demo-session-events",
        SESSION_EVENTS_STORE_TIMEOUT_S=TIMEOUT,
    )
    unavailable(returns(lambda: client.post(URL, json=event())))
    unavailable(returns(lambda: client.post(BATCH_URL, json=batch())))
    unavailable(returns(lambda: client.get("/readyz")))


class FakeTime:
    """A clock that only moves when the code under test waits: sleeps and hung calls."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def deadline(self, seconds: float) -> Deadline:
        return Deadline(seconds, clock=self.clock, sleep=self.sleep)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    import session_events.stores.firestore.store as module

    fake = FakeTime()
    monkeypatch.setattr(module, "Deadline", fake.deadline)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # never reached
    return fake


def hangs_until_its_timeout(fake: FakeTime, error: type[Exception]) -> Callable[..., Any]:
    """A write that waits out the whole timeout it is given, then fails."""

    def write(*_args: Any, timeout: float | None = None, **_kwargs: Any) -> Any:
        assert timeout is not None, "every attempt must carry a deadline"
        fake.now += timeout
        raise error("no answer")

    return write


@pytest.mark.parametrize("error", [gexc.DeadlineExceeded, gexc.ServiceUnavailable])
def test_firestore_put_spends_at_most_its_timeout_retries_included(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    from google.cloud.firestore_v1.document import DocumentReference

    from session_events.stores.firestore.store import FirestoreStore

    monkeypatch.setattr(DocumentReference, "create", hangs_until_its_timeout(fake_time, error))
    store = FirestoreStore("events", project="demo", timeout_s=1.0)
    with pytest.raises(StoreUnavailable):
        store.put(record("a"))
    assert fake_time.now <= 1.0


def test_firestore_put_answering_unavailable_at_once_is_retried_within_its_timeout(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.document import DocumentReference

    from session_events.stores.firestore.store import FirestoreStore

    attempts: list[float] = []

    def refuse(*_args: Any, timeout: float | None = None, **_kwargs: Any) -> Any:
        attempts.append(fake_time.now)
        raise gexc.ServiceUnavailable("not now")

    monkeypatch.setattr(DocumentReference, "create", refuse)
    store = FirestoreStore("events", project="demo", timeout_s=1.0)
    with pytest.raises(StoreUnavailable):
        store.put(record("a"))
    assert len(attempts) > 1
    assert fake_time.now <= 1.0


def test_firestore_batch_spends_at_most_its_timeout_retries_included(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.firestore_v1.bulk_batch import BulkWriteBatch

    from session_events.stores.firestore.store import FirestoreStore

    monkeypatch.setattr(
        BulkWriteBatch, "commit", hangs_until_its_timeout(fake_time, gexc.ServiceUnavailable)
    )
    store = FirestoreStore("events", project="demo", timeout_s=1.0)
    with pytest.raises(StoreUnavailable):
        store.put_many([record(f"s{n}") for n in range(5)])
    assert fake_time.now <= 1.0
