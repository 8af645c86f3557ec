"""Settings of the read side (rollup job, public statistics, operator's view) from the environment.

Read on each read-side request (a handful of lookups), so the ingest path never pays for
them. The three tokens must differ: one must never open what another opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from session_events.core.errors import ConfigurationError
from session_events.rollups.privacy import DEFAULT_K, MIN_K

DEFAULT_ROLLUP_DAYS = 8
MAX_ROLLUP_DAYS = 90


def _bounded_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class ReadSettings:
    """Tokens (None = that part is disabled), K (raised to MIN_K), the job's days, the switch."""

    job_token: str | None = None
    read_token: str | None = None
    public_stats: bool = False
    publish_k: int = DEFAULT_K
    rollup_days: int = DEFAULT_ROLLUP_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReadSettings:
        job = env.get("SESSION_EVENTS_JOB_TOKEN", "").strip() or None
        read = env.get("SESSION_EVENTS_READ_TOKEN", "").strip() or None
        ingest = env.get("SESSION_EVENTS_INGEST_TOKEN", "").strip() or None
        tokens = [token for token in (job, read, ingest) if token is not None]
        if len(set(tokens)) != len(tokens):
            raise ConfigurationError(
                "SESSION_EVENTS_JOB_TOKEN, SESSION_EVENTS_READ_TOKEN and "
                "SESSION_EVENTS_INGEST_TOKEN must differ"
            )
        public = env.get("SESSION_EVENTS_PUBLIC_STATS", "").strip().lower()
        if public not in ("", "on", "off"):
            raise ConfigurationError("SESSION_EVENTS_PUBLIC_STATS must be on or off")
        return cls(
            job_token=job,
            read_token=read,
            public_stats=public == "on",
            publish_k=max(
                MIN_K, _bounded_int(env, "SESSION_EVENTS_PUBLISH_K", DEFAULT_K, 1, 1_000_000)
            ),
            rollup_days=_bounded_int(
                env, "SESSION_EVENTS_ROLLUP_DAYS", DEFAULT_ROLLUP_DAYS, 1, MAX_ROLLUP_DAYS
            ),
        )
