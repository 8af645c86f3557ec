"""The DynamoDB store: one item per event under `pk` = the derived ID, put only if absent.

Every write is a PutItem with the condition `attribute_not_exists(pk)`; a failed condition
is the duplicate verdict. A batch is the same conditional put per event, a few at a time
on a small thread pool, because neither batch API keeps per-event verdicts:

- BatchWriteItem takes no condition expressions, so it would overwrite the first event of a
  pair with a later one and could not tell accepted from duplicate;
- TransactWriteItems does take conditions, but a transaction fails whole when one condition
  fails: a single duplicate would cancel every new event beside it, and the retries needed
  to sort them out cost more than the puts themselves (and each write costs double).

Items hold numbers as numbers, `discovery_refs` as a list (empty when absent), absent
optional fields as NULL, `ended_at` / `received_at` as UTC text `YYYY-MM-DDTHH:MM:SS.mmmZ`
(fixed width, so it sorts in time order for the `identity_ended` index) and `expire_at` as
epoch seconds for DynamoDB TTL. The table itself is defined in `dynamodb_table`.

Throttling, service errors, timeouts, unreachable endpoints, missing credentials or region
and a missing table are StoreUnavailable (503 + Retry-After): the client sends again later
and the events stored meanwhile come back as duplicates.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from session_events.errors import StoreUnavailable
from session_events.schema import format_timestamp
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.dynamodb_read import DynamoDbReads
from session_events.stores.dynamodb_table import DAY_ATTRIBUTE, PARTITION_KEY, TTL_ATTRIBUTE

T = TypeVar("T")

# Conditional puts of one batch (≤ 100 events) run this many at a time.
BATCH_WORKERS = 16

# Error codes after which the request may succeed later: throttling, the service itself,
# and what an operator must fix (credentials, permissions, the table).
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionConflictException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)

_CONDITION_FAILED = "ConditionalCheckFailedException"


def _encode(name: str, value: Any) -> dict[str, Any]:
    """One field as a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if name == TTL_ATTRIBUTE:
        return {"N": str(int(value.timestamp()))}
    if isinstance(value, datetime):
        return {"S": format_timestamp(value)}
    if isinstance(value, bool):
        raise TypeError(f"{name}: booleans are not stored")
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, list):
        return {"L": [{"S": str(item)} for item in value]}
    return {"S": str(value)}


def item(record: EventRecord) -> dict[str, dict[str, Any]]:
    """The record as the item PutItem writes."""
    encoded = {PARTITION_KEY: {"S": record.key}}
    for name, value in record.fields().items():
        encoded[name] = _encode(name, value)
    encoded[DAY_ATTRIBUTE] = {"S": format_timestamp(record.event.ended_at)[:10]}
    return encoded


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_unavailable(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return _error_code(exc) in _UNAVAILABLE_CODES or int(status or 0) >= 500


class DynamoDbStore(DynamoDbReads):
    """Items in one table keyed by `pk`; the client and the batch pool are made on first use.

    The region comes from `AWS_REGION` or `AWS_DEFAULT_REGION` (then the AWS config file),
    credentials from the standard AWS chain; `endpoint_url` points the client at DynamoDB
    Local or a moto server.
    """

    def __init__(
        self, table: str, *, endpoint_url: str | None = None, timeout_s: float = 5.0
    ) -> None:
        self.table = table
        self.endpoint_url = endpoint_url
        self._timeout_s = timeout_s
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The boto3 DynamoDB client (thread-safe, shared by the pool's threads)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    config = Config(
                        connect_timeout=self._timeout_s,
                        read_timeout=self._timeout_s,
                        retries={"mode": "standard", "total_max_attempts": 2},
                        max_pool_connections=BATCH_WORKERS,
                    )
                    self._client = self._guarded(
                        lambda: boto3.session.Session().client(
                            "dynamodb",
                            region_name=os.environ.get("AWS_REGION") or None,
                            endpoint_url=self.endpoint_url,
                            config=config,
                        )
                    )
        return self._client

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=BATCH_WORKERS, thread_name_prefix="dynamodb-put"
                    )
        return self._pool

    @staticmethod
    def _guarded(call: Callable[[], T]) -> T:
        """Run a client call, turning "not now" errors into StoreUnavailable."""
        try:
            return call()
        except ClientError as exc:
            if _is_unavailable(exc):
                raise StoreUnavailable(f"dynamodb: {_error_code(exc)}") from exc
            raise
        except ParamValidationError:
            raise
        except BotoCoreError as exc:  # connection, timeout, credentials, region
            raise StoreUnavailable(f"dynamodb: {type(exc).__name__}") from exc

    def put(self, record: EventRecord) -> Outcome:
        """One conditional put.

        When a put's answer is lost and botocore sends it again, the second attempt finds
        the first one's item; an existing item equal to ours is therefore ours: accepted.
        """
        client = self.client()
        sent = item(record)
        try:
            self._guarded(
                lambda: client.put_item(
                    TableName=self.table,
                    Item=sent,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            )
        except ClientError as exc:
            if _error_code(exc) == _CONDITION_FAILED:
                return Outcome.ACCEPTED if exc.response.get("Item") == sent else Outcome.DUPLICATE
            raise
        return Outcome.ACCEPTED

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        """Conditional puts in parallel, one verdict per record in order.

        Every put runs to its end; if any was unavailable the whole call is, and the client's
        retry finds the ones that were stored as duplicates.
        """
        if len(records) <= 1:
            return [self.put(record) for record in records]
        self.client()
        futures = [self._executor().submit(self.put, record) for record in records]
        outcomes: list[Outcome] = []
        failure: Exception | None = None
        for future in futures:
            try:
                outcomes.append(future.result())
            except Exception as exc:  # collected so that every put finishes first
                failure = failure or exc
        if failure is not None:
            raise failure
        return outcomes

    def ping(self) -> None:
        """A cheap eventually consistent GetItem: proves credentials, endpoint and table."""
        client = self.client()
        self._guarded(
            lambda: client.get_item(
                TableName=self.table,
                Key={PARTITION_KEY: {"S": "_readyz"}},
                ProjectionExpression="#pk",
                ExpressionAttributeNames={"#pk": PARTITION_KEY},
            )
        )

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
