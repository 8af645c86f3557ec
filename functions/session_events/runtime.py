"""The per-instance wiring: settings, store, service and limiter, built once on first use.

The composition root: the one module that knows every store adapter by name.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from session_events.core.errors import ConfigurationError
from session_events.core.logs import log_problem
from session_events.ingest.config import Settings
from session_events.ingest.ratelimit import RateLimiter
from session_events.ingest.service import IngestService
from session_events.stores.base import EventStore


def open_store(settings: Settings) -> EventStore:
    """Build the configured store; a cloud client is imported only when it is chosen."""
    if settings.store == "firestore":
        from session_events.stores.firestore.store import FirestoreStore

        return FirestoreStore(settings.collection, timeout_s=settings.store_timeout_s)
    if settings.store == "dynamodb":
        from session_events.stores.dynamodb.store import DynamoDbStore

        return DynamoDbStore(
            settings.dynamodb_table,
            endpoint_url=settings.dynamodb_endpoint_url,
            timeout_s=settings.store_timeout_s,
        )
    if settings.store == "memory":
        from session_events.stores.memory import MemoryStore

        return MemoryStore()
    from session_events.stores.sqlite.store import SqliteStore

    return SqliteStore(settings.sqlite_path, timeout_s=settings.store_timeout_s)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: EventStore
    service: IngestService
    limiter: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, store: EventStore | None = None) -> Runtime:
        store = store if store is not None else open_store(settings)
        return cls(
            settings=settings,
            store=store,
            service=IngestService(store, retention_days=settings.retention_days),
            limiter=RateLimiter(settings.rate_limit_per_minute),
        )


_runtime: Runtime | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The instance's runtime; the first call reads the environment (no I/O happens here)."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = Runtime.from_settings(Settings.from_env(os.environ))
    return _runtime


def reset_runtime() -> None:
    """Forget the runtime so the next request reads the environment again."""
    global _runtime
    with _lock:
        _runtime = None


def check_configuration() -> None:
    """Log, at start-up, every malformed setting at once (the requests then answer 500)."""
    try:
        Settings.from_env(os.environ)
    except ConfigurationError as error:
        log_problem(f"configuration: {error.detail}")


check_configuration()
