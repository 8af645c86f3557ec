"""Instants in UTC and their text, ``YYYY-MM-DDTHH:MM:SS.mmmZ``, read from `time` alone.

The hook stamps every event with the moment it ran; `datetime` would cost it an import
of a few milliseconds for what `time.gmtime` and `time.strftime` already do.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime


class Moment:
    """An instant, to the millisecond, with its UTC calendar fields."""

    __slots__ = ("millisecond", "seconds", "utc")

    def __init__(self, seconds: int, millisecond: int) -> None:
        self.seconds = seconds  # whole seconds since the epoch
        self.millisecond = millisecond
        self.utc = time.gmtime(seconds)

    @classmethod
    def now(cls) -> Moment:
        seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
        return cls(seconds, nanoseconds // 1_000_000)

    @classmethod
    def of(cls, moment: datetime) -> Moment:
        """The instant of a `datetime` (a naive one is local time, as `datetime` reads it)."""
        whole = moment.replace(microsecond=0).timestamp()
        return cls(int(whole), moment.microsecond // 1000)

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch, as `datetime.timestamp` gives them."""
        return self.seconds + self.millisecond / 1000

    def text(self) -> str:
        """``YYYY-MM-DDTHH:MM:SS.mmmZ``, the form of the event's ``ended_at``."""
        return time.strftime("%Y-%m-%dT%H:%M:%S.", self.utc) + f"{self.millisecond:03d}Z"


def utc_now_text() -> str:
    """The current instant as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return Moment.now().text()
