"""ISO weeks, the unit of the public releases: `2026-W48`, its UTC bounds, and when it is due.

A week runs from Monday 00:00 to the next Monday 00:00 UTC (end exclusive). It is due for
release once its end is at least the release delay behind the job's clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

WEEK_NAME = re.compile(r"(?P<year>[0-9]{4})-W(?P<week>[0-9]{2})")
DEFAULT_RELEASE_DELAY_DAYS = 3
# How far back one run looks for due weeks without a release (after an outage, or when the
# public statistics are switched on): a quarter.
RELEASE_LOOKBACK_WEEKS = 13


@dataclass(frozen=True, order=True, slots=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """`2026-W48` -> the week; ValueError for anything else (week 53 only where it exists)."""
        match = WEEK_NAME.fullmatch(text)
        if match is None:
            raise ValueError("is not an ISO week such as 2026-W48")
        year, week = int(match["year"]), int(match["week"])
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError("is not an ISO week such as 2026-W48") from None
        return cls.of(monday)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        """The week a UTC day belongs to."""
        year, week, _weekday = day.isocalendar()
        return cls(year, week)

    @property
    def name(self) -> str:
        return f"{self.year:04d}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def start(self) -> datetime:
        """Monday 00:00 UTC (inclusive)."""
        return datetime.combine(self.monday, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 UTC (exclusive)."""
        return self.start + timedelta(days=7)

    def previous(self) -> IsoWeek:
        return IsoWeek.of(self.monday - timedelta(days=7))

    def due_at(self, delay_days: int) -> datetime:
        """When the rollup job may release this week."""
        return self.end + timedelta(days=delay_days)


def weeks_back(now: datetime, count: int) -> list[IsoWeek]:
    """The `count` weeks ending with the one `now` is in, newest first."""
    week = IsoWeek.of(now.astimezone(UTC).date())
    found = []
    for _ in range(count):
        found.append(week)
        week = week.previous()
    return found


def due_weeks(
    now: datetime, delay_days: int, lookback: int = RELEASE_LOOKBACK_WEEKS
) -> list[IsoWeek]:
    """Weeks a run at `now` may release: due, and at most `lookback` weeks back, oldest first."""
    recent = weeks_back(now, lookback + delay_days // 7 + 2)
    candidates = [week for week in recent if week.due_at(delay_days) <= now]
    return sorted(candidates[:lookback])
