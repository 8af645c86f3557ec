"""The per-instance wiring: settings, store, service and limiter, built once on first use."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from session_events.config import Settings
from session_events.errors import ConfigurationError
from session_events.logs import log_problem
from session_events.ratelimit import RateLimiter
from session_events.service import IngestService
from session_events.stores import EventStore, open_store


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
