"""Settings of the read side (rollup job, public statistics, operator's view) from the environment.

Read on each read-side request (a handful of lookups), so the ingest path never pays for
them. The three tokens must differ: one must never open what another opens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from session_events.contract.rules import REF_PATTERN, VERSION_PATTERN
from session_events.core.errors import ConfigurationError
from session_events.rollups.releases import ReleaseSettings

DEFAULT_ROLLUP_DAYS = 8
MAX_ROLLUP_DAYS = 90
# K: a public week or key below this many (noisy) identities is not shown; never below MIN_K.
DEFAULT_K = 10
MIN_K = 5
# ε per identity-week of the public releases.
DEFAULT_EPSILON = 1.0
EPSILON_RANGE = (0.1, 10.0)
DEFAULT_RELEASE_DELAY_DAYS = 3
MAX_RELEASE_DELAY_DAYS = 28
MAX_DECLARED_KEYS = 200


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


def _epsilon(env: Mapping[str, str]) -> float:
    name, (low, high) = "SESSION_EVENTS_DP_EPSILON", EPSILON_RANGE
    raw = env.get(name, "").strip()
    if not raw:
        return DEFAULT_EPSILON
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number") from None
    if not low <= value <= high:  # NaN fails here too
        raise ConfigurationError(f"{name} must be between {low:g} and {high:g}")
    return value


def _declared(env: Mapping[str, str], name: str, pattern: str) -> tuple[str, ...]:
    """A comma-separated list of versions or refs, each as the event schema allows it."""
    items = [item.strip() for item in env.get(name, "").split(",") if item.strip()]
    if any(re.fullmatch(pattern, item) is None for item in items):
        raise ConfigurationError(f"{name} holds an item the event schema would refuse")
    unique = tuple(dict.fromkeys(items))
    if len(unique) > MAX_DECLARED_KEYS:
        raise ConfigurationError(f"{name} holds more than {MAX_DECLARED_KEYS} items")
    return unique


@dataclass(frozen=True)
class ReadSettings:
    """Tokens (None = that part is disabled), K (raised to MIN_K), the job's days, the
    public switch and what the public releases are made with."""

    job_token: str | None = None
    read_token: str | None = None
    public_stats: bool = False
    publish_k: int = DEFAULT_K
    rollup_days: int = DEFAULT_ROLLUP_DAYS
    dp_epsilon: float = DEFAULT_EPSILON
    release_delay_days: int = DEFAULT_RELEASE_DELAY_DAYS
    public_versions: tuple[str, ...] = ()
    public_refs: tuple[str, ...] = ()

    def releases(self) -> ReleaseSettings | None:
        """How the job releases weeks; None while public statistics are off."""
        if not self.public_stats:
            return None
        return ReleaseSettings(
            epsilon=self.dp_epsilon,
            k=self.publish_k,
            public_versions=self.public_versions,
            public_refs=self.public_refs,
            delay_days=self.release_delay_days,
        )

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
            dp_epsilon=_epsilon(env),
            release_delay_days=_bounded_int(
                env,
                "SESSION_EVENTS_RELEASE_DELAY_DAYS",
                DEFAULT_RELEASE_DELAY_DAYS,
                0,
                MAX_RELEASE_DELAY_DAYS,
            ),
            public_versions=_declared(env, "SESSION_EVENTS_PUBLIC_VERSIONS", VERSION_PATTERN),
            public_refs=_declared(env, "SESSION_EVENTS_PUBLIC_REFS", REF_PATTERN),
        )
