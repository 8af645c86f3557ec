"""Settings of the read side (rollup job, public statistics, operator's view) from the environment.

Read on each read-side request (a handful of lookups), so the ingest path never pays for
them. The three tokens must differ: one must never open what another opens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from session_events.contract.rules import REF_PATTERN, VERSION_PATTERN
from session_events.core.environment import EnvironmentReader
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


def _declared(read: EnvironmentReader, name: str, pattern: str) -> tuple[str, ...]:
    """A comma-separated list of versions or refs, each as the event schema allows it."""
    items = [item.strip() for item in read.text(name).split(",") if item.strip()]
    if any(re.fullmatch(pattern, item) is None for item in items):
        read.problem(f"{name} holds an item the event schema would refuse")
        return ()
    unique = tuple(dict.fromkeys(items))
    if len(unique) > MAX_DECLARED_KEYS:
        read.problem(f"{name} holds more than {MAX_DECLARED_KEYS} items")
        return ()
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
        """The settings, or ConfigurationError naming every malformed variable at once."""
        read = EnvironmentReader(env)
        job = read.optional("SESSION_EVENTS_JOB_TOKEN")
        read_token = read.optional("SESSION_EVENTS_READ_TOKEN")
        ingest = read.optional("SESSION_EVENTS_INGEST_TOKEN")
        tokens = [token for token in (job, read_token, ingest) if token is not None]
        if len(set(tokens)) != len(tokens):
            read.problem(
                "SESSION_EVENTS_JOB_TOKEN, SESSION_EVENTS_READ_TOKEN and "
                "SESSION_EVENTS_INGEST_TOKEN must differ"
            )
        public = read.choice("SESSION_EVENTS_PUBLIC_STATS", "off", ("on", "off"))
        low, high = EPSILON_RANGE
        settings = cls(
            job_token=job,
            read_token=read_token,
            public_stats=public == "on",
            publish_k=max(
                MIN_K,
                read.integer("SESSION_EVENTS_PUBLISH_K", DEFAULT_K, minimum=1, maximum=1_000_000),
            ),
            rollup_days=read.integer(
                "SESSION_EVENTS_ROLLUP_DAYS",
                DEFAULT_ROLLUP_DAYS,
                minimum=1,
                maximum=MAX_ROLLUP_DAYS,
            ),
            dp_epsilon=read.number(
                "SESSION_EVENTS_DP_EPSILON", DEFAULT_EPSILON, low=low, high=high
            ),
            release_delay_days=read.integer(
                "SESSION_EVENTS_RELEASE_DELAY_DAYS",
                DEFAULT_RELEASE_DELAY_DAYS,
                minimum=0,
                maximum=MAX_RELEASE_DELAY_DAYS,
            ),
            public_versions=_declared(read, "SESSION_EVENTS_PUBLIC_VERSIONS", VERSION_PATTERN),
            public_refs=_declared(read, "SESSION_EVENTS_PUBLIC_REFS", REF_PATTERN),
        )
        read.check()
        return settings
