"""Store adapters behind one port; `open_store` picks one from the settings."""

from __future__ import annotations

from session_events.config import Settings
from session_events.stores.base import EventRecord, EventStore, Outcome, document_id

__all__ = ["EventRecord", "EventStore", "Outcome", "document_id", "open_store"]


def open_store(settings: Settings) -> EventStore:
    """Build the configured store; a cloud client is imported only when it is chosen."""
    if settings.store == "firestore":
        from session_events.stores.firestore import FirestoreStore

        return FirestoreStore(settings.collection, timeout_s=settings.store_timeout_s)
    if settings.store == "dynamodb":
        from session_events.stores.dynamodb import DynamoDbStore

        return DynamoDbStore(
            settings.dynamodb_table,
            endpoint_url=settings.dynamodb_endpoint_url,
            timeout_s=settings.store_timeout_s,
        )
    if settings.store == "memory":
        from session_events.stores.memory import MemoryStore

        return MemoryStore()
    from session_events.stores.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, timeout_s=settings.store_timeout_s)
