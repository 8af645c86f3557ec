"""The DynamoDB table the store writes to, as data: key schema, billing, GSI and TTL.

The same definitions are checked in under infra/dynamodb/ for operators (AWS CLI JSON and
Terraform); a test keeps those copies equal to this module. Print the AWS CLI inputs with
`python -m session_events.stores.dynamodb.table table|ttl [TABLE_NAME]` (from functions/).
"""

from __future__ import annotations

import json
import sys
from typing import Any

DEFAULT_TABLE = "session_events"
PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expire_at"
IDENTITY_INDEX = "identity_ended"
DAY_INDEX = "day_ended"
SESSION_INDEX = "session_received"
DAY_ATTRIBUTE = "ended_day"


def table_definition(table: str = DEFAULT_TABLE) -> dict[str, Any]:
    """CreateTable parameters (also the input of `aws dynamodb create-table --cli-input-json`).

    `ended_at` is fixed-width UTC text (`YYYY-MM-DDTHH:MM:SS.mmmZ`), so the indexes sort it
    in time order. `identity_ended` answers one identity's sessions over time; `day_ended`
    (`ended_day` = the UTC day of `ended_at`) reads a window of days one partition a day, so
    the rollup job and the session list read only their window; both project every
    attribute (items are small; no second read). `session_received` lists the senders of one
    session hash in the order they were stored (`received_at`) and projects only the keys
    and `identity_hash`: the first sender's event is the session's page (one GetItem).
    """
    return {
        "TableName": table,
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": "identity_hash", "AttributeType": "S"},
            {"AttributeName": "ended_at", "AttributeType": "S"},
            {"AttributeName": DAY_ATTRIBUTE, "AttributeType": "S"},
            {"AttributeName": "session_id_hash", "AttributeType": "S"},
            {"AttributeName": "received_at", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {
                "IndexName": IDENTITY_INDEX,
                "KeySchema": [
                    {"AttributeName": "identity_hash", "KeyType": "HASH"},
                    {"AttributeName": "ended_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": DAY_INDEX,
                "KeySchema": [
                    {"AttributeName": DAY_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": "ended_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": SESSION_INDEX,
                "KeySchema": [
                    {"AttributeName": "session_id_hash", "KeyType": "HASH"},
                    {"AttributeName": "received_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["identity_hash"]},
            },
        ],
    }


def ttl_definition(table: str = DEFAULT_TABLE) -> dict[str, Any]:
    """UpdateTimeToLive parameters: items go once `expire_at` (epoch seconds) has passed."""
    return {
        "TableName": table,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }


def create_table(client: Any, table: str = DEFAULT_TABLE) -> None:
    """Create the table, wait until it is active, then turn TTL on (for tests and scripts)."""
    client.create_table(**table_definition(table))
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    client.update_time_to_live(**ttl_definition(table))


def cli_input(kind: str, table: str = DEFAULT_TABLE) -> str:
    """The `--cli-input-json` text of create-table ("table") or update-time-to-live ("ttl")."""
    definition = table_definition(table) if kind == "table" else ttl_definition(table)
    return json.dumps(definition, indent=2) + "\n"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("table", "ttl") or len(argv) > 2:
        print(
            "usage: python -m session_events.stores.dynamodb.table table|ttl [TABLE_NAME]",
            file=sys.stderr,
        )
        return 2
    sys.stdout.write(cli_input(argv[0], argv[1] if len(argv) > 1 else DEFAULT_TABLE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
