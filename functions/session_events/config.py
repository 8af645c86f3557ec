"""Settings of the ingest function, read once from the environment and validated eagerly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from session_events.errors import ConfigurationError

STORES = ("sqlite", "firestore", "dynamodb", "memory")

SINGLE_BODY_LIMIT = 64 * 1024
BATCH_BODY_LIMIT = 1024 * 1024


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be > 0")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the function reads from its environment (CONTRACT §2, §3)."""

    store: str = "sqlite"
    sqlite_path: str = ".data/session_events.db"
    collection: str = "session_events"
    dynamodb_table: str = "session_events"
    dynamodb_endpoint_url: str | None = None
    retention_days: int = 365
    rate_limit_per_minute: int = 600
    ingest_token: str | None = None
    store_timeout_s: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        store = env.get("SESSION_EVENTS_STORE", "sqlite").strip().lower() or "sqlite"
        if store not in STORES:
            raise ConfigurationError(f"SESSION_EVENTS_STORE must be one of {', '.join(STORES)}")
        collection = env.get("SESSION_EVENTS_COLLECTION", "").strip() or "session_events"
        if "/" in collection:
            raise ConfigurationError("SESSION_EVENTS_COLLECTION must not contain '/'")
        return cls(
            store=store,
            sqlite_path=env.get("SESSION_EVENTS_SQLITE_PATH", "").strip()
            or ".data/session_events.db",
            collection=collection,
            dynamodb_table=env.get("SESSION_EVENTS_DYNAMODB_TABLE", "").strip() or "session_events",
            dynamodb_endpoint_url=env.get("SESSION_EVENTS_DYNAMODB_ENDPOINT", "").strip() or None,
            retention_days=_int(env, "SESSION_EVENTS_RETENTION_DAYS", 365, minimum=1),
            rate_limit_per_minute=_int(env, "SESSION_EVENTS_RATE_LIMIT_PER_MINUTE", 600),
            ingest_token=env.get("SESSION_EVENTS_INGEST_TOKEN", "").strip() or None,
            store_timeout_s=_float(env, "SESSION_EVENTS_STORE_TIMEOUT_S", 5.0),
        )
