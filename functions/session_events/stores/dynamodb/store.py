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
and a missing table are StoreUnavailable (503 + Retry-After). Puts run on a small pool and
the caller waits for them at most `timeout_s` (SESSION_EVENTS_STORE_TIMEOUT_S) in all, the
store's own retries included; in a batch, a put that failed or did not finish in time is
RETRY while the others keep their verdicts.

Each put carries a random `write_token` attribute. A put retried after a lost answer that
finds an item with its own token found its own first attempt: accepted, not duplicate.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as BotoConnectionError

from session_events.core.deadline import Deadline
from session_events.core.errors import StoreUnavailable
from session_events.core.timestamps import format_timestamp
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.dynamodb.reads import DynamoDbReads
from session_events.stores.dynamodb.table import (
    DAY_ATTRIBUTE,
    IDENTITY_INDEX,
    PARTITION_KEY,
    TTL_ATTRIBUTE,
)

T = TypeVar("T")

# Conditional puts run on a pool of this many threads (and as many HTTP connections): enough
# for the server's request threads (THREADS, 80 in production) not to queue behind each other.
PUT_WORKERS = 64

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

# Of those, the ones worth sending the same put again for, within the deadline.
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionConflictException",
    }
)

_CONDITION_FAILED = "ConditionalCheckFailedException"

TOKEN_ATTRIBUTE = "write_token"  # noqa: S105 (an attribute name, not a secret)

# First pause before a put is sent again (doubled each time, within the deadline).
_FIRST_BACKOFF_S = 0.05


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


def item(record: EventRecord, token: str | None = None) -> dict[str, dict[str, Any]]:
    """The record as the item PutItem writes (with the put's write token when given)."""
    encoded = {PARTITION_KEY: {"S": record.key}}
    for name, value in record.fields().items():
        encoded[name] = _encode(name, value)
    if token is not None:
        encoded[TOKEN_ATTRIBUTE] = {"S": token}
    encoded[DAY_ATTRIBUTE] = {"S": format_timestamp(record.event.ended_at)[:10]}
    return encoded


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_transient(exc: StoreUnavailable) -> bool:
    cause = exc.__cause__
    if isinstance(cause, ClientError):
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _error_code(cause) in _TRANSIENT_CODES or int(status or 0) >= 500
    return isinstance(cause, BotoConnectionError | HTTPClientError)


def _is_unavailable(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return _error_code(exc) in _UNAVAILABLE_CODES or int(status or 0) >= 500


def _describe(exc: BotoCoreError) -> str:
    """The client's own words (endpoint, missing credentials or region), never event data."""
    return f"{type(exc).__name__}: {exc}"


class DynamoDbStore(DynamoDbReads):
    """Items in one table keyed by `pk`; the client and the batch pool are made on first use.

    The region comes from `AWS_REGION` or `AWS_DEFAULT_REGION` (then the AWS config file),
    credentials from the standard AWS chain; `endpoint_url` points the client at DynamoDB
    Local or a moto server.
    """

    def __init__(
        self, table: str, *, endpoint_url: str | None = None, timeout_s: float = 4.0
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
                        # One attempt per call: the store sends again itself, within its deadline.
                        retries={"mode": "standard", "total_max_attempts": 1},
                        max_pool_connections=PUT_WORKERS,
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
                        max_workers=PUT_WORKERS, thread_name_prefix="dynamodb-put"
                    )
        return self._pool

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run a client call, turning "not now" errors into StoreUnavailable."""
        try:
            return call()
        except ClientError as exc:
            if _is_unavailable(exc):
                raise StoreUnavailable(f"dynamodb: table {self.table}: {_error_code(exc)}") from exc
            raise
        except ParamValidationError:
            raise
        except BotoCoreError as exc:  # connection, timeout, credentials, region
            raise StoreUnavailable(f"dynamodb: table {self.table}: {_describe(exc)}") from exc

    def put(self, record: EventRecord) -> Outcome:
        """One conditional put, sent again after a "not now" error while time is left."""
        deadline = Deadline(self._timeout_s)
        self.client()
        return self._wait(self._executor().submit(self._put, record, deadline), deadline)

    def _wait(self, future: Future[T], deadline: Deadline) -> T:
        try:
            return future.result(timeout=deadline.remaining())
        except FutureTimeout:
            future.cancel()
            raise StoreUnavailable(
                f"dynamodb: table {self.table}: no answer within {self._timeout_s:g} s"
            ) from None

    def _put(self, record: EventRecord, deadline: Deadline) -> Outcome:
        client = self.client()
        token = secrets.token_hex(16)
        sent = item(record, token)
        try:
            self._repeated(
                lambda: client.put_item(
                    TableName=self.table,
                    Item=sent,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
                deadline,
            )
        except ClientError as exc:
            if _error_code(exc) == _CONDITION_FAILED:
                found = exc.response.get("Item", {}).get(TOKEN_ATTRIBUTE)
                return Outcome.ACCEPTED if found == sent[TOKEN_ATTRIBUTE] else Outcome.DUPLICATE
            raise
        return Outcome.ACCEPTED

    def _repeated(self, call: Callable[[], T], deadline: Deadline) -> T:
        """A guarded call, sent again after a transient error while the deadline allows."""
        delay = _FIRST_BACKOFF_S
        while True:
            try:
                return self._guarded(call)
            except StoreUnavailable as exc:
                if not _is_transient(exc) or not deadline.pause_before_retry(delay):
                    raise
                delay *= 2

    def put_many(self, records: Sequence[EventRecord]) -> list[Outcome]:
        """Conditional puts in parallel, one verdict per record in order.

        A put that failed or is still running at the deadline is RETRY; when none of them
        got a verdict, the first failure is raised (StoreUnavailable for "not now").
        """
        if not records:
            return []
        deadline = Deadline(self._timeout_s)
        self.client()
        pool = self._executor()
        futures = [pool.submit(self._put, record, deadline) for record in records]
        outcomes: list[Outcome] = []
        failure: Exception | None = None
        for future in futures:
            try:
                outcomes.append(self._wait(future, deadline))
            except Exception as exc:  # this event only: the others keep their verdicts
                failure = failure or exc
                outcomes.append(Outcome.RETRY)
        if failure is not None and all(outcome is Outcome.RETRY for outcome in outcomes):
            raise failure
        return outcomes

    def ping(self) -> None:
        """A cheap eventually consistent GetItem: proves credentials, endpoint and table."""
        deadline = Deadline(self._timeout_s)
        client = self.client()
        self._wait(
            self._executor().submit(
                self._guarded,
                lambda: client.get_item(
                    TableName=self.table,
                    Key={PARTITION_KEY: {"S": "_readyz"}},
                    ProjectionExpression="#pk",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY},
                ),
            ),
            deadline,
        )

    def erase_identities(self, identity_hashes: Sequence[str]) -> int:
        """Each identity's keys from the `identity_ended` index, then one DeleteItem per key,
        on the pool; the count is of the items a delete found (ReturnValues ALL_OLD), so an
        index entry that lags behind a delete already made is not counted twice."""
        deadline = Deadline(self._timeout_s)
        self.client()
        pool = self._executor()
        lookups = [pool.submit(self._identity_keys, identity) for identity in identity_hashes]
        keys = [key for lookup in lookups for key in self._wait(lookup, deadline)]
        deletes = [pool.submit(self._delete, key, deadline) for key in keys]
        return sum(self._wait(delete, deadline) for delete in deletes)

    def _identity_keys(self, identity_hash: str) -> list[str]:
        found = self._query(
            IndexName=IDENTITY_INDEX,
            KeyConditionExpression="identity_hash = :identity",
            ExpressionAttributeValues={":identity": {"S": identity_hash}},
            ProjectionExpression="#pk",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
        )
        return [str(item[PARTITION_KEY]["S"]) for item in found]

    def _delete(self, key: str, deadline: Deadline) -> int:
        """1 when the item was there and is deleted now, 0 when it was already gone."""
        client = self.client()
        answer = self._repeated(
            lambda: client.delete_item(
                TableName=self.table, Key={PARTITION_KEY: {"S": key}}, ReturnValues="ALL_OLD"
            ),
            deadline,
        )
        return 1 if answer.get("Attributes") else 0

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
