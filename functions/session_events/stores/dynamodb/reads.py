"""The DynamoDB store's read side: GSI queries, rollup items, never a scan.

`day_ended` gives a window of days one partition a day (every item carries `ended_day`),
`identity_ended` one identity's sessions, `session_received` the senders of one session
hash in the order stored (then one GetItem by the event's key). Rollups are items of the
same table under `pk` = `rollup:<key>` (never a 64-hex event key) with one string
attribute `body`, written in one TransactWriteItems call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from session_events.core.timestamps import format_timestamp, parse_rfc3339
from session_events.stores.base import document_id
from session_events.stores.dynamodb.table import (
    DAY_ATTRIBUTE,
    DAY_INDEX,
    IDENTITY_INDEX,
    PARTITION_KEY,
    SESSION_INDEX,
)
from session_events.stores.readmodel import Cursor, SessionPage, StoredEvent

T = TypeVar("T")

ROLLUP_PREFIX = "rollup:"
# One TransactWriteItems call holds at most this many items; BatchGetItem this many keys.
MAX_TRANSACT_ITEMS = 100
MAX_BATCH_GET = 100


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


class DynamoDbReads:
    """The read methods of `DynamoDbStore`, which provides the table, client and guard."""

    table: str

    def client(self) -> Any:
        raise NotImplementedError

    def _guarded(self, call: Callable[[], T]) -> T:
        raise NotImplementedError

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

    def session_senders(self, session_id_hash: str, limit: int) -> list[str]:
        """In the order stored: `session_received` sorts one hash's items by `received_at`."""
        found = self._query(
            IndexName=SESSION_INDEX,
            KeyConditionExpression="session_id_hash = :s",
            ExpressionAttributeValues={":s": {"S": session_id_hash}},
            ScanIndexForward=True,
            Limit=limit,
        )
        return [str(item_["identity_hash"]["S"]) for item_ in found]

    def session(self, identity_hash: str, session_id_hash: str) -> StoredEvent | None:
        client = self.client()
        key = {PARTITION_KEY: {"S": document_id(identity_hash, session_id_hash)}}
        answer = self._guarded(lambda: client.get_item(TableName=self.table, Key=key))
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

    def create_rollup(self, key: str, body: str) -> bool:
        """One conditional put: refused where an item of this key exists."""
        client = self.client()
        item = {PARTITION_KEY: {"S": ROLLUP_PREFIX + key}, "body": {"S": body}}
        try:
            self._guarded(
                lambda: client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=f"attribute_not_exists({PARTITION_KEY})",
                )
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

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
