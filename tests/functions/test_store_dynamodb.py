"""The DynamoDB store on moto: one item per pair, its stored shape, verdicts and failures."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber
from flask.testing import FlaskClient
from loopback import free_port
from moto import mock_aws
from support import BATCH_URL, ROOT, URL, event, hexhash

from session_events.contract.schema import SessionEvent
from session_events.core.errors import StoreUnavailable
from session_events.ingest.config import Settings
from session_events.ingest.service import IngestService
from session_events.runtime import get_runtime, open_store
from session_events.stores.base import EventRecord, Outcome, document_id
from session_events.stores.dynamodb.store import DynamoDbStore, item
from session_events.stores.dynamodb.table import (
    IDENTITY_INDEX,
    cli_input,
    create_table,
    table_definition,
    ttl_definition,
)

TABLE = "session_events_test"
RECEIVED = datetime(2026, 5, 22, 13, 0, 0, 123000, tzinfo=UTC)
INFRA = ROOT / "infra" / "dynamodb"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and a region; no AWS config file, profile or instance metadata."""
    for name in ("AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws(aws_env: None) -> Iterator[Any]:
    """moto's DynamoDB with the table created from its definition; yields a raw client."""
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, TABLE)
        yield client


@pytest.fixture
def store(aws: Any) -> Iterator[DynamoDbStore]:
    store = DynamoDbStore(TABLE, timeout_s=2.0)
    yield store
    store.close()


def record(received_at: datetime = RECEIVED, days: int = 365, **changes: Any) -> EventRecord:
    return EventRecord(
        SessionEvent.model_validate(event(**changes)), received_at, received_at + timedelta(days)
    )


def items(client: Any) -> list[dict[str, Any]]:
    return list(client.scan(TableName=TABLE, ConsistentRead=True)["Items"])


def throttled(code: str = "ProvisionedThroughputExceededException", status: int = 400) -> Any:
    return ClientError({"Error": {"Code": code, "Message": "slow down"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem")  # fmt: skip


# --- the stored shape --------------------------------------------------------------------


def test_new_event_is_accepted_and_stored_under_the_derived_key(
    store: DynamoDbStore, aws: Any
) -> None:
    payload = event()
    assert store.put(record()) is Outcome.ACCEPTED
    key = document_id(payload["identity_hash"], payload["session_id_hash"])
    found = aws.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
    assert found["identity_hash"] == {"S": payload["identity_hash"]}
    assert found["session_id_hash"] == {"S": payload["session_id_hash"]}
    assert found["plugin_version"] == {"S": "1.4.0"}
    assert found["branch_sha"] == {"S": "3f9c2ab71e04"}


def test_same_pair_twice_is_one_item_and_the_second_is_a_duplicate(
    store: DynamoDbStore, aws: Any
) -> None:
    assert store.put(record()) is Outcome.ACCEPTED
    assert store.put(record(received_at=RECEIVED + timedelta(minutes=1), tool_count=7)) is (
        Outcome.DUPLICATE
    )
    [stored] = items(aws)
    assert stored["tool_count"] == {"N": "42"}  # the first event wins
    assert stored["received_at"] == {"S": "2026-05-22T13:00:00.123Z"}


def test_put_retried_after_a_lost_answer_that_finds_its_own_item_is_accepted(
    store: DynamoDbStore, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = store.client()
    real_put = client.put_item
    calls: list[dict[str, Any]] = []

    def put_item_answer_lost(**params: Any) -> Any:
        calls.append(params)
        answer = real_put(**params)
        if len(calls) == 1:  # the item is written, the answer never arrives
            raise ReadTimeoutError(endpoint_url="http://dynamodb")
        return answer

    monkeypatch.setattr(client, "put_item", put_item_answer_lost)
    assert store.put(record()) is Outcome.ACCEPTED
    assert len(calls) == 2
    assert len(items(aws)) == 1


def test_item_stored_by_another_write_is_a_duplicate_even_when_identical(
    store: DynamoDbStore, aws: Any
) -> None:
    aws.put_item(TableName=TABLE, Item=item(record(), token="another-request"))
    assert store.put(record()) is Outcome.DUPLICATE
    assert len(items(aws)) == 1


def test_optional_fields_omitted_are_stored_as_null_and_empty_list(
    store: DynamoDbStore, aws: Any
) -> None:
    store.put(record(github_hash=None, branch_sha=None, discovery_refs=None))
    [stored] = items(aws)
    assert stored["github_hash"] == {"NULL": True}
    assert stored["branch_sha"] == {"NULL": True}
    assert stored["discovery_refs"] == {"L": []}


def test_numbers_are_stored_as_numbers(store: DynamoDbStore, aws: Any) -> None:
    store.put(record(tool_count=1_000_000, tokens_saved=1_000_000_000))
    [stored] = items(aws)
    assert stored["tool_count"] == {"N": "1000000"}
    assert stored["tokens_saved"] == {"N": "1000000000"}
    assert stored["schema_version"] == {"N": "1"}
    assert set(stored["expire_at"]) == {"N"}


def test_discovery_refs_are_a_list_in_their_order(store: DynamoDbStore, aws: Any) -> None:
    refs = ["zeta", "alpha", "mid:1", "alpha.2", "0first"]
    store.put(record(discovery_refs=refs))
    [stored] = items(aws)
    assert stored["discovery_refs"] == {"L": [{"S": ref} for ref in refs]}


def test_times_are_utc_text_with_milliseconds(store: DynamoDbStore, aws: Any) -> None:
    store.put(record(ended_at="2026-05-22T14:34:56.5+02:00"))
    [stored] = items(aws)
    assert stored["ended_at"] == {"S": "2026-05-22T12:34:56.500Z"}
    assert stored["received_at"] == {"S": "2026-05-22T13:00:00.123Z"}


def test_expire_at_is_epoch_seconds_of_received_at_plus_retention(
    store: DynamoDbStore, aws: Any
) -> None:
    service = IngestService(store, retention_days=30, clock=lambda: RECEIVED)
    service.ingest(SessionEvent.model_validate(event()))
    [stored] = items(aws)
    assert stored["expire_at"] == {"N": str(int(RECEIVED.timestamp()) + 30 * 86400)}


def test_identity_index_lists_an_identitys_sessions_in_ended_at_order(
    store: DynamoDbStore, aws: Any
) -> None:
    ends = ["2026-05-22T12:00:00.000Z", "2026-03-01T08:00:00+01:00", "2026-05-01T00:00:00Z"]
    for number, ended_at in enumerate(ends):
        store.put(record(session_id_hash=hexhash(f"s{number}"), ended_at=ended_at))
    store.put(record(identity_hash=hexhash("someone else")))
    answer = aws.query(
        TableName=TABLE,
        IndexName=IDENTITY_INDEX,
        KeyConditionExpression="identity_hash = :identity",
        ExpressionAttributeValues={":identity": {"S": event()["identity_hash"]}},
    )
    assert [found["ended_at"]["S"] for found in answer["Items"]] == [
        "2026-03-01T07:00:00.000Z",
        "2026-05-01T00:00:00.000Z",
        "2026-05-22T12:00:00.000Z",
    ]


# --- batches -----------------------------------------------------------------------------


def test_batch_verdicts_come_back_in_order(store: DynamoDbStore, aws: Any) -> None:
    existing = {3, 10, 11, 29}
    earlier = RECEIVED - timedelta(minutes=1)
    for number in existing:
        store.put(record(earlier, session_id_hash=hexhash(f"s{number}")))
    batch = [record(session_id_hash=hexhash(f"s{number}")) for number in range(30)]
    outcomes = store.put_many(batch)
    assert outcomes == [
        Outcome.DUPLICATE if number in existing else Outcome.ACCEPTED for number in range(30)
    ]
    assert len(items(aws)) == 30


def test_batch_of_one_and_empty_batch(store: DynamoDbStore) -> None:
    assert store.put_many([]) == []
    assert store.put_many([record()]) == [Outcome.ACCEPTED]


def test_batch_with_one_throttled_put_is_retry_and_the_others_stored(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DynamoDbStore(TABLE, timeout_s=0.5)
    batch = [record(session_id_hash=hexhash(f"s{number}")) for number in range(10)]
    client = store.client()
    real_put = client.put_item

    def put_item(**params: Any) -> Any:
        if params["Item"]["pk"]["S"] == batch[4].key:
            raise throttled()
        return real_put(**params)

    monkeypatch.setattr(client, "put_item", put_item)
    outcomes = store.put_many(batch)
    assert outcomes == [Outcome.RETRY if n == 4 else Outcome.ACCEPTED for n in range(10)]
    assert len(items(aws)) == 9
    monkeypatch.undo()
    # The client sends the fifth again later: it is new, and stored now.
    assert store.put_many([record(session_id_hash=hexhash("s4"))]) == [Outcome.ACCEPTED]
    store.close()


def test_batch_where_every_put_fails_is_store_unavailable(store: DynamoDbStore) -> None:
    with Stubber(store.client()) as stubber:
        for _ in range(2):
            stubber.add_client_error("put_item", "AccessDeniedException")
        with pytest.raises(StoreUnavailable, match="AccessDeniedException"):
            store.put_many([record(session_id_hash=hexhash(f"s{n}")) for n in range(2)])


# --- failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
        ("AccessDeniedException", 400),
    ],
)
def test_throttling_and_service_errors_are_store_unavailable(
    store: DynamoDbStore, code: str, status: int
) -> None:
    with Stubber(store.client()) as stubber:
        stubber.add_client_error("put_item", service_error_code=code, http_status_code=status)
        with pytest.raises(StoreUnavailable):
            store.put(record())


def test_a_request_the_service_rejects_is_not_disguised_as_unavailable(
    store: DynamoDbStore,
) -> None:
    with Stubber(store.client()) as stubber:
        stubber.add_client_error("put_item", "ValidationException", http_status_code=400)
        with pytest.raises(ClientError):
            store.put(record())


def test_missing_table_is_store_unavailable(aws_env: None) -> None:
    with mock_aws():
        store = DynamoDbStore("no_such_table")
        with pytest.raises(StoreUnavailable):
            store.put(record())
        with pytest.raises(StoreUnavailable):
            store.ping()


def test_unreachable_endpoint_is_store_unavailable(aws_env: None) -> None:
    store = DynamoDbStore(TABLE, endpoint_url=f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    with pytest.raises(StoreUnavailable):
        store.put(record())
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_endpoint_that_never_answers_is_store_unavailable_within_the_timeouts(
    aws_env: None,
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = DynamoDbStore(TABLE, endpoint_url=f"http://127.0.0.1:{port}", timeout_s=0.3)
        started = datetime.now(UTC)
        with pytest.raises(StoreUnavailable):
            store.put(record())
        assert datetime.now(UTC) - started < timedelta(seconds=5)


def test_missing_credentials_are_store_unavailable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    store = DynamoDbStore(TABLE, endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreUnavailable, match="NoCredentialsError"):
        store.put(record())


def test_missing_region_is_store_unavailable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(StoreUnavailable, match="NoRegionError"):
        DynamoDbStore(TABLE).put(record())


def test_ping_answers_when_the_table_exists(store: DynamoDbStore) -> None:
    store.ping()


# --- client construction -----------------------------------------------------------------


def test_store_builds_nothing_until_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    store = open_store(
        Settings(
            store="dynamodb",
            dynamodb_table="events",
            dynamodb_endpoint_url="http://127.0.0.1:8000",
            store_timeout_s=1.5,
        )
    )
    assert isinstance(store, DynamoDbStore)
    assert (store.table, store.endpoint_url) == ("events", "http://127.0.0.1:8000")
    assert store._client is None


def test_client_has_the_timeouts_no_hidden_retries_and_region(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    client = DynamoDbStore(TABLE, endpoint_url="http://127.0.0.1:8000", timeout_s=1.5).client()
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 1.5)
    assert config.retries["total_max_attempts"] == 1  # the store repeats, within its deadline
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:8000"


# --- through HTTP ------------------------------------------------------------------------


@pytest.fixture
def dynamodb_client(aws: Any, make_client: Callable[..., FlaskClient]) -> FlaskClient:
    return make_client(SESSION_EVENTS_STORE="dynamodb", SESSION_EVENTS_DYNAMODB_TABLE=TABLE)


def test_http_event_is_stored_once_in_dynamodb(dynamodb_client: FlaskClient, aws: Any) -> None:
    first = dynamodb_client.post(URL, json=event())
    second = dynamodb_client.post(URL, json=event(tool_count=7))
    assert (first.status_code, first.get_json()) == (202, {"ok": True, "status": "accepted"})
    assert (second.status_code, second.get_json()) == (202, {"ok": True, "status": "duplicate"})
    assert len(items(aws)) == 1


def test_http_batch_gives_per_event_verdicts(dynamodb_client: FlaskClient) -> None:
    dynamodb_client.post(URL, json=event(session_id_hash=hexhash("already")))
    events = [
        event(session_id_hash=hexhash("new-1")),
        event(session_id_hash=hexhash("already")),
        event(session_id_hash=hexhash("bad"), tool_count=-1),
        event(session_id_hash=hexhash("new-1")),
    ]
    answer = dynamodb_client.post(BATCH_URL, json={"events": events})
    assert answer.status_code == 200
    statuses = [result["status"] for result in answer.get_json()["results"]]
    assert statuses == ["accepted", "duplicate", "invalid", "duplicate"]


def test_http_throttled_store_is_503_with_retry_after(dynamodb_client: FlaskClient) -> None:
    store = get_runtime().store
    assert isinstance(store, DynamoDbStore)
    with Stubber(store.client()) as stubber:
        stubber.add_client_error("put_item", "ProvisionedThroughputExceededException")
        answer = dynamodb_client.post(URL, json=event())
    assert answer.status_code == 503
    assert answer.get_json() == {"ok": False, "error": "store_unavailable"}
    assert int(answer.headers["Retry-After"]) > 0
    assert "Throughput" not in answer.get_data(as_text=True)


def test_http_readyz_follows_the_table(dynamodb_client: FlaskClient, aws: Any) -> None:
    assert dynamodb_client.get("/readyz").status_code == 200
    aws.delete_table(TableName=TABLE)
    answer = dynamodb_client.get("/readyz")
    assert answer.status_code == 503
    assert "Retry-After" in answer.headers


# --- the table definition an operator applies --------------------------------------------


@pytest.mark.parametrize("kind", ["table", "ttl"])
def test_cli_json_files_are_what_the_code_prints(kind: str) -> None:
    assert (INFRA / f"{kind}.json").read_text() == cli_input(kind)


def test_cli_json_files_are_the_code_definition() -> None:
    assert json.loads((INFRA / "table.json").read_text()) == table_definition()
    assert json.loads((INFRA / "ttl.json").read_text()) == ttl_definition()


def test_terraform_table_is_the_code_definition() -> None:
    terraform = json.loads((INFRA / "main.tf.json").read_text())
    table = terraform["resource"]["aws_dynamodb_table"]["session_events"]
    assert terraform["variable"]["table_name"]["default"] == table_definition()["TableName"]
    as_create_table = {
        "TableName": table_definition()["TableName"],
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in table["attribute"]
        ],
        "KeySchema": [{"AttributeName": table["hash_key"], "KeyType": "HASH"}],
        "BillingMode": table["billing_mode"],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index["name"],
                "KeySchema": [
                    {"AttributeName": index["hash_key"], "KeyType": "HASH"},
                    {"AttributeName": index["range_key"], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index["projection_type"]}
                | (
                    {"NonKeyAttributes": index["non_key_attributes"]}
                    if "non_key_attributes" in index
                    else {}
                ),
            }
            for index in table["global_secondary_index"]
        ],
    }
    assert as_create_table == table_definition()
    ttl = ttl_definition()["TimeToLiveSpecification"]
    assert table["ttl"] == {"attribute_name": ttl["AttributeName"], "enabled": ttl["Enabled"]}


def test_iam_policy_allows_what_the_store_calls() -> None:
    policy = json.loads((INFRA / "iam-policy.json").read_text())
    [statement] = policy["Statement"]
    assert sorted(statement["Action"]) == [
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
    ]


def test_terraform_configuration_is_valid(tmp_path: Path) -> None:
    """`terraform validate` offline, with the AWS provider from a local plugin directory."""
    terraform = shutil.which("terraform")
    plugins = os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins")
    if terraform is None or not Path(plugins, "registry.terraform.io/hashicorp/aws").is_dir():
        pytest.skip("terraform or a local AWS provider (TF_PLUGIN_DIR) is not installed")
    (tmp_path / "main.tf.json").write_text((INFRA / "main.tf.json").read_text())
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    init = [terraform, "init", "-backend=false", "-input=false", f"-plugin-dir={plugins}"]
    subprocess.run(init, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    validate = subprocess.run(
        [terraform, "validate", "-json"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert json.loads(validate.stdout)["valid"] is True
