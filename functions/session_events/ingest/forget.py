"""Erasure: from an install id, every identity_hash its events can carry.

The emitter sends `identity_hash` = sha256(install id + `salt_<YYYY>Q<n>`), the salt of the
UTC quarter its clock read when the session ended, and `ended_at` from that same clock. So
an event's quarter is the quarter of its `ended_at`, which the server takes from
2020-01-01 up to 24 hours past its own time, and an event stays stored for its retention
period whatever its `ended_at` says (a machine whose clock was years behind sent events
that are kept as long as any other). The identities to erase are therefore those of every
quarter from the first one the server accepts to the one 24 hours from now: a few dozen
hashes, each found through the stores' identity index.

After each erasure the store records a new mark (`LAST_ERASURE_KEY`: its time and a random
token, nothing else): the next rollup run then recomputes the operator's older daily rows.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from session_events.contract.rules import EARLIEST_ENDED_AT, FUTURE_TOLERANCE
from session_events.core.timestamps import format_timestamp
from session_events.stores.base import LAST_ERASURE_KEY, EventStore, ReadStore


def quarter_salt(moment: datetime) -> str:
    """The salt of the UTC quarter holding `moment`, e.g. `salt_2026Q2` for May 2026."""
    return f"salt_{moment.year}Q{(moment.month - 1) // 3 + 1}"


def identity_hash(install_id: str, salt: str) -> str:
    """sha256(install id + salt) as lowercase hex, as the emitter derives it."""
    return hashlib.sha256((install_id + salt).encode("utf-8")).hexdigest()


def salts(now: datetime) -> list[str]:
    """The salt of every quarter a stored event can carry, the oldest first."""
    first = EARLIEST_ENDED_AT.year * 4 + (EARLIEST_ENDED_AT.month - 1) // 3
    latest = now + FUTURE_TOLERANCE
    last = latest.year * 4 + (latest.month - 1) // 3
    return [f"salt_{quarter // 4}Q{quarter % 4 + 1}" for quarter in range(first, last + 1)]


def identity_hashes(install_id: str, now: datetime) -> list[str]:
    """Every identity_hash of this install that a stored event can carry; the last one is
    the identity of the quarter 24 hours from now."""
    return [identity_hash(install_id, salt) for salt in salts(now)]


def erase(store: EventStore, install_id: str, now: datetime) -> int:
    """Delete every event of this install; how many. Then the time of the erasure is
    recorded for the rollup job; cut short (StoreUnavailable), nothing is recorded: the
    request is to be repeated, and the repeat records it."""
    deleted = store.erase_identities(identity_hashes(install_id, now))
    _record_erasure(store)
    return deleted


def _record_erasure(store: EventStore) -> None:
    if isinstance(store, ReadStore):
        mark = f"{format_timestamp(datetime.now(UTC))} {uuid.uuid4().hex}"  # unique per erasure
        store.write_rollups({LAST_ERASURE_KEY: mark})
