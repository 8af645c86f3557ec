"""The time budget of a request's store work (SESSION_EVENTS_STORE_TIMEOUT_S), retries included."""

from __future__ import annotations

import time
from collections.abc import Callable

# An attempt given less time than this is not worth starting.
MIN_ATTEMPT_S = 0.02


class Deadline:
    """Started when the store work starts; every attempt and pause takes from what is left."""

    __slots__ = ("_clock", "_end", "_sleep", "seconds")

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._sleep = sleep
        self._end = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() < MIN_ATTEMPT_S

    def pause_before_retry(self, delay: float) -> bool:
        """Sleep `delay` and return True when an attempt still fits after it, else False now."""
        if self.remaining() < delay + MIN_ATTEMPT_S:
            return False
        self._sleep(delay)
        return True
