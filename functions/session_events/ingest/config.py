"""Settings of the ingest function, read once from the environment and validated eagerly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from session_events.core.environment import EnvironmentReader

STORES = ("sqlite", "firestore", "dynamodb", "memory")

SINGLE_BODY_LIMIT = 64 * 1024
BATCH_BODY_LIMIT = 1024 * 1024
# An erasure request is one short install id.
FORGET_BODY_LIMIT = 4 * 1024

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_ENDPOINT = re.compile(r"https?://[^\s/?#]+(/\S*)?")

# The store work of one request ends within this by default: below the emitter's 5 s read
# timeout, so its answer (even a 503) arrives before the emitter gives up on it.
DEFAULT_STORE_TIMEOUT_S = 4.0

# The longest store timeout taken: a Cloud Function (gen2) HTTP request lasts at most an hour.
MAX_TIMEOUT_S = 3600.0
# Beyond these the function could not compute with them (an expiry past the year 9999, a
# rate that overflows a float): refused at start-up, not on every request.
MAX_RETENTION_DAYS = 36_500
MAX_RATE_LIMIT_PER_MINUTE = 1_000_000_000


@dataclass(frozen=True)
class Settings:
    """Everything the function reads from its environment (README.md, "Configuration")."""

    store: str = "sqlite"
    sqlite_path: str = ".data/session_events.db"
    collection: str = "session_events"
    dynamodb_table: str = "session_events"
    dynamodb_endpoint_url: str | None = None
    retention_days: int = 365
    rate_limit_per_minute: int = 600
    ingest_token: str | None = None
    store_timeout_s: float = DEFAULT_STORE_TIMEOUT_S

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings, or ConfigurationError naming every malformed variable at once."""
        read = EnvironmentReader(env)
        store = read.choice("SESSION_EVENTS_STORE", "sqlite", STORES)
        collection = read.text("SESSION_EVENTS_COLLECTION", "session_events")
        if "/" in collection:
            read.problem("SESSION_EVENTS_COLLECTION must not contain '/'")
        table = read.text("SESSION_EVENTS_DYNAMODB_TABLE", "session_events")
        if not _TABLE_NAME.fullmatch(table):
            read.problem(
                "SESSION_EVENTS_DYNAMODB_TABLE must be 3-255 characters of A-Z a-z 0-9 _ . -"
            )
        endpoint = read.optional("SESSION_EVENTS_DYNAMODB_ENDPOINT")
        if endpoint is not None and not _ENDPOINT.fullmatch(endpoint):
            read.problem("SESSION_EVENTS_DYNAMODB_ENDPOINT must be an http:// or https:// URL")
        settings = cls(
            store=store,
            sqlite_path=read.text("SESSION_EVENTS_SQLITE_PATH", ".data/session_events.db"),
            collection=collection,
            dynamodb_table=table,
            dynamodb_endpoint_url=endpoint,
            retention_days=read.integer(
                "SESSION_EVENTS_RETENTION_DAYS", 365, minimum=1, maximum=MAX_RETENTION_DAYS
            ),
            rate_limit_per_minute=read.integer(
                "SESSION_EVENTS_RATE_LIMIT_PER_MINUTE", 600, maximum=MAX_RATE_LIMIT_PER_MINUTE
            ),
            ingest_token=read.optional("SESSION_EVENTS_INGEST_TOKEN"),
            store_timeout_s=read.number(
                "SESSION_EVENTS_STORE_TIMEOUT_S",
                DEFAULT_STORE_TIMEOUT_S,
                low=0,
                high=MAX_TIMEOUT_S,
                low_included=False,
            ),
        )
        read.check()
        return settings
