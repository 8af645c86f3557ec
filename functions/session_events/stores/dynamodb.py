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

The read side queries the GSIs, never scans: `day_ended` one partition per UTC day of the
window (every item carries `ended_day`), `identity_ended` for one identity, and
`session_ended` for one session. Rollups are items of the same table under
`pk` = `rollup:<key>` (never a 64-hex event key), written in one TransactWriteItems call.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from session_events.errors import StoreUnavailable
from session_events.readmodel import Cursor, SessionPage, StoredEvent
from session_events.schema import format_timestamp, parse_rfc3339
from session_events.stores.base import EventRecord, Outcome
from session_events.stores.dynamodb_table import (
    DAY_ATTRIBUTE,
    DAY_INDEX,
    IDENTITY_INDEX,
    PARTITION_KEY,
    SESSION_INDEX,
    TTL_ATTRIBUTE,
)

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

ROLLUP_PREFIX = "rollup:"
# One TransactWriteItems call holds at most this many items; BatchGetItem this many keys.
MAX_TRANSACT_ITEMS = 100
MAX_BATCH_GET = 100


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


def _text(value: dict[str, Any]) -> str | None:
    return None if "NULL" in value else str(value["S"])


def read_item(found: dict[str, dict[str, Any]]) -> StoredEvent:
    """An item as the read side's event."""
    return StoredEvent(
        identity_hash=str(found["identity_hash"]["S"]),
        session_id_hash=str(found["session_id_hash"]["S"]),
        ended_at=str(found["ended_at"]["S"]),
        tool_count=int(found["tool_count"]["N"]),
        tokens_saved=int(found["tokens_saved"]["N"]),
        plugin_version=str(found["plugin_version"]["S"]),
        github_hash=_text(found.get("github_hash", {"NULL": True})),
        branch_sha=_text(found.get("branch_sha", {"NULL": True})),
        discovery_refs=tuple(str(ref["S"]) for ref in found.get("discovery_refs", {}).get("L", [])),
    )


def _day_bounds(start: str, end: str) -> Iterator[tuple[str, str, str]]:
    """(day, low, high) per UTC day of [start, end), newest first; low/high inclusive."""
    last_ms = format_timestamp(parse_rfc3339(end) - timedelta(milliseconds=1))
    day = date.fromisoformat(last_ms[:10])
    first = date.fromisoformat(start[:10])
    while day >= first:
        text = day.isoformat()
        yield text, max(start, f"{text}T00:00:00.000Z"), min(last_ms, f"{text}T23:59:59.999Z")
        day -= timedelta(days=1)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_unavailable(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return _error_code(exc) in _UNAVAILABLE_CODES or int(status or 0) >= 500


class DynamoDbStore:
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

    # ---- read side ---------------------------------------------------------------------

    def _query(self, **params: Any) -> Iterator[dict[str, Any]]:
        """Every query's items come through here, page after page."""
        client = self.client()
        params = {"TableName": self.table, **params}
        while True:
            answer = self._guarded(functools.partial(client.query, **params))
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer or "Limit" in params:
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _day(
        self, day: str, low: str, high: str, *, newest_first: bool = False
    ) -> Iterator[dict[str, Any]]:
        return self._query(
            IndexName=DAY_INDEX,
            KeyConditionExpression="#day = :day AND ended_at BETWEEN :low AND :high",
            ExpressionAttributeNames={"#day": DAY_ATTRIBUTE},
            ExpressionAttributeValues={
                ":day": {"S": day},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            ScanIndexForward=not newest_first,
        )

    def events_between(self, start: str, end: str) -> Iterator[StoredEvent]:
        for day, low, high in _day_bounds(start, end):
            for found in self._day(day, low, high):
                yield read_item(found)

    def count_between(self, start: str, end: str, logged_in: bool | None) -> int:
        """Query with Select=COUNT per day (filtered on the type of `github_hash`)."""
        client = self.client()
        total = 0
        for day, low, high in _day_bounds(start, end):
            params: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": DAY_INDEX,
                "Select": "COUNT",
                "KeyConditionExpression": "#day = :day AND ended_at BETWEEN :low AND :high",
                "ExpressionAttributeNames": {"#day": DAY_ATTRIBUTE},
                "ExpressionAttributeValues": {
                    ":day": {"S": day},
                    ":low": {"S": low},
                    ":high": {"S": high},
                },
            }
            if logged_in is not None:
                params["FilterExpression"] = "attribute_type(github_hash, :type)"
                params["ExpressionAttributeValues"][":type"] = {"S": "S" if logged_in else "NULL"}
            while True:
                answer = self._guarded(functools.partial(client.query, **params))
                total += int(answer.get("Count", 0))
                if "LastEvaluatedKey" not in answer:
                    break
                params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return total

    def sessions_page(
        self, start: str, end: str, *, limit: int, logged_in: bool | None, after: Cursor | None
    ) -> SessionPage:
        """Day partitions newest first; ties on `ended_at` are ordered by `pk`, descending."""
        found: list[tuple[Cursor, StoredEvent]] = []
        for day, low, high in _day_bounds(start, end):
            if after is not None:
                if after.ended_at < low:
                    continue  # a day newer than the cursor: already listed
                high = min(high, after.ended_at)
            items = [
                (Cursor(str(item_["ended_at"]["S"]), str(item_[PARTITION_KEY]["S"])), item_)
                for item_ in self._day(day, low, high, newest_first=True)
            ]
            items.sort(key=lambda pair: (pair[0].ended_at, pair[0].tiebreak), reverse=True)
            for position, found_item in items:
                if after is not None and (position.ended_at, position.tiebreak) >= (
                    after.ended_at,
                    after.tiebreak,
                ):
                    continue
                event = read_item(found_item)
                if logged_in is None or (event.github_hash is not None) == logged_in:
                    found.append((position, event))
            if len(found) > limit:
                break
        page = found[:limit]
        cursor = page[-1][0] if len(found) > limit and page else None
        return SessionPage([event for _cursor, event in page], cursor)

    def session(self, session_id_hash: str) -> StoredEvent | None:
        keys = list(
            self._query(
                IndexName=SESSION_INDEX,
                KeyConditionExpression="session_id_hash = :s",
                ExpressionAttributeValues={":s": {"S": session_id_hash}},
                ScanIndexForward=False,
                Limit=1,
            )
        )
        if not keys:
            return None
        client = self.client()
        answer = self._guarded(
            lambda: client.get_item(
                TableName=self.table, Key={PARTITION_KEY: keys[0][PARTITION_KEY]}
            )
        )
        return read_item(answer["Item"]) if "Item" in answer else None

    def identity_sessions(
        self, identity_hash: str, start: str, end: str, limit: int
    ) -> list[StoredEvent]:
        last_ms = format_timestamp(parse_rfc3339(end) - timedelta(milliseconds=1))
        found = self._query(
            IndexName=IDENTITY_INDEX,
            KeyConditionExpression="identity_hash = :i AND ended_at BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":i": {"S": identity_hash},
                ":low": {"S": start},
                ":high": {"S": last_ms},
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        return [read_item(item_) for item_ in found]

    def write_rollups(self, documents: Mapping[str, str]) -> None:
        """One TransactWriteItems call: every document is written, or none is."""
        if len(documents) > MAX_TRANSACT_ITEMS:
            raise ValueError(f"at most {MAX_TRANSACT_ITEMS} rollup documents per run")
        client = self.client()
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        PARTITION_KEY: {"S": ROLLUP_PREFIX + key},
                        "body": {"S": body},
                    },
                }
            }
            for key, body in documents.items()
        ]
        self._guarded(lambda: client.transact_write_items(TransactItems=items))

    def read_rollups(self, keys: Sequence[str]) -> dict[str, str]:
        client = self.client()
        found: dict[str, str] = {}
        for offset in range(0, len(keys), MAX_BATCH_GET):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {PARTITION_KEY: {"S": ROLLUP_PREFIX + key}}
                        for key in keys[offset : offset + MAX_BATCH_GET]
                    ],
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self._guarded(
                    functools.partial(client.batch_get_item, RequestItems=request)
                )
                for found_item in answer.get("Responses", {}).get(self.table, []):
                    key = str(found_item[PARTITION_KEY]["S"]).removeprefix(ROLLUP_PREFIX)
                    found[key] = str(found_item["body"]["S"])
                request = answer.get("UnprocessedKeys") or {}
        return found

    def sweep_expired(self, now: datetime) -> int:
        """Nothing to do: DynamoDB's TTL on `expire_at` deletes expired items."""
        return 0
