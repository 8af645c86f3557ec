"""A per-instance token bucket per identity: at most N events a minute for one identity_hash."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# Above this many tracked identities, buckets that have refilled completely are dropped.
_PRUNE_AT = 50_000

# Float slack when comparing token levels: a client that waited exactly as told gets through.
_SLACK = 1e-6


class RateLimiter:
    """Each identity's bucket holds `per_minute` tokens and refills continuously.

    A request for more tokens than the bucket holds (a batch of 100 under a limit of 10) is
    taken once the bucket is full and leaves it in debt, so the rate over time still holds
    and any request can get through. The wait returned is the true one: the same request
    sent again after it (and nothing else for those identities meanwhile) is taken.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, counts: dict[str, int]) -> int:
        """Take `counts[identity]` tokens for every identity, all or none.

        Returns 0 when taken, else the whole seconds to wait before the request is taken.
        """
        if self.per_minute <= 0:
            return 0
        now = self._clock()
        with self._lock:
            levels = {identity: self._level(identity, now) for identity in counts}
            wait = 0.0
            for identity, wanted in counts.items():
                missing = min(wanted, self.per_minute) - levels[identity]
                if missing > _SLACK:
                    wait = max(wait, missing / self._rate)
            if wait > 0:
                return max(1, math.ceil(wait))
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            for identity, wanted in counts.items():
                self._buckets[identity] = (levels[identity] - wanted, now)
            return 0

    def _level(self, identity: str, now: float) -> float:
        tokens, stamp = self._buckets.get(identity, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - stamp) * self._rate)

    def _prune(self, now: float) -> None:
        full = [key for key in self._buckets if self._level(key, now) >= self.per_minute]
        for key in full:
            del self._buckets[key]
