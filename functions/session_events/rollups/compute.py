"""Rollups computed from events in plain Python: daily, per plugin version and per ref.

Rules (README.md, "The rollup job"):

- one identity counts once in a distinct count;
- in session counts an identity counts for at most SESSION_CAP sessions a UTC day (its
  earliest ones by `ended_at`; the rest of that day is left out of every figure, medians
  included, so one busy machine cannot stand for many people);
- windows are whole UTC days ending with the run's last day: the daily rows of the last
  `days` days, versions over 7 and 28 days, refs over 28 days.

Nothing here knows a store: `compute` takes events and returns `Rollups`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from session_events.stores.readmodel import StoredEvent, day_start, days_back, stamp

SESSION_CAP = 20
VERSION_WINDOWS: dict[str, int] = {"7d": 7, "28d": 28}
REF_WINDOW = ("28d", 28)
# Refs seen by fewer identities than this are never stored: K is never below it.
REF_STORE_MIN_IDENTITIES = 5


@dataclass(frozen=True, slots=True)
class Plan:
    """Which days one run rewrites (`days` ending with `last_day`) and which events it reads."""

    last_day: date
    days: int

    @property
    def daily_days(self) -> list[date]:
        return days_back(self.last_day, self.days)

    @property
    def read_days(self) -> int:
        return max(self.days, *VERSION_WINDOWS.values(), REF_WINDOW[1])

    @property
    def read_first_day(self) -> date:
        """The first day of the events one run reads."""
        return self.last_day - timedelta(days=self.read_days - 1)

    @property
    def read_start(self) -> str:
        """Inclusive lower bound of `ended_at` (stored text form)."""
        return stamp(day_start(self.read_first_day))

    @property
    def read_end(self) -> str:
        """Exclusive upper bound of `ended_at`: 00:00 UTC after the last day."""
        return stamp(day_start(self.last_day + timedelta(days=1)))


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One UTC day. `events` counts every stored event of the day, the cap aside: a later
    run compares it with the store's count to find a day whose events changed since."""

    day: str
    identities: int
    sessions: int
    events: int | None = None  # None: a row written before the count was kept


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: str
    identities: int
    sessions: int
    tool_count_p50: int
    tool_count_p90: int
    tokens_saved_p50: int
    tokens_saved_p90: int


@dataclass(frozen=True, slots=True)
class RefRow:
    ref: str
    identities: int
    sessions: int
    first_seen_day: str
    last_seen_day: str


@dataclass(frozen=True, slots=True)
class Rollups:
    """Everything one run writes: `as_of` is the last day of every window."""

    as_of: str
    daily: list[DailyRow]
    versions: dict[str, list[VersionRow]] = field(default_factory=dict)
    refs: list[RefRow] = field(default_factory=list)


def percentile(values: list[int], fraction: float) -> int:
    """Nearest-rank percentile (always one of the values); `values` must not be empty."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def capped(events: Iterable[StoredEvent], cap: int = SESSION_CAP) -> list[StoredEvent]:
    """Each identity's earliest `cap` sessions per UTC day; the rest are dropped."""
    by_identity_day: dict[tuple[str, str], list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_identity_day[(event.identity_hash, event.day)].append(event)
    kept: list[StoredEvent] = []
    for group in by_identity_day.values():
        group.sort(key=lambda e: (e.ended_at, e.session_id_hash))
        kept.extend(group[:cap])
    return kept


def _in_days(events: list[StoredEvent], first: str, last: str) -> list[StoredEvent]:
    return [event for event in events if first <= event.day <= last]


def daily_rows(events: list[StoredEvent], days: list[date]) -> list[DailyRow]:
    """The rows of these days from every event of them (the cap is applied here)."""
    return _daily(capped(events), Counter(event.day for event in events), days)


def _daily(kept: list[StoredEvent], stored: Counter[str], days: list[date]) -> list[DailyRow]:
    identities: dict[str, set[str]] = defaultdict(set)
    sessions: dict[str, int] = defaultdict(int)
    for event in kept:
        identities[event.day].add(event.identity_hash)
        sessions[event.day] += 1
    return [
        DailyRow(day.isoformat(), len(identities[key]), sessions[key], stored[key])
        for day in days
        for key in [day.isoformat()]
    ]


def _versions(events: list[StoredEvent]) -> list[VersionRow]:
    grouped: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        grouped[event.plugin_version].append(event)
    rows = []
    for version, group in grouped.items():
        tools = [event.tool_count for event in group]
        tokens = [event.tokens_saved for event in group]
        rows.append(
            VersionRow(
                version=version,
                identities=len({event.identity_hash for event in group}),
                sessions=len(group),
                tool_count_p50=percentile(tools, 0.5),
                tool_count_p90=percentile(tools, 0.9),
                tokens_saved_p50=percentile(tokens, 0.5),
                tokens_saved_p90=percentile(tokens, 0.9),
            )
        )
    rows.sort(key=lambda row: (-row.identities, -row.sessions, row.version))
    return rows


def _refs(events: list[StoredEvent]) -> list[RefRow]:
    identities: dict[str, set[str]] = defaultdict(set)
    sessions: dict[str, int] = defaultdict(int)
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for event in events:
        for ref in dict.fromkeys(event.discovery_refs):  # a ref twice in one session is once
            identities[ref].add(event.identity_hash)
            sessions[ref] += 1
            first[ref] = min(first.get(ref, event.day), event.day)
            last[ref] = max(last.get(ref, event.day), event.day)
    rows = [
        RefRow(ref, len(ids), sessions[ref], first[ref], last[ref])
        for ref, ids in identities.items()
        if len(ids) >= REF_STORE_MIN_IDENTITIES
    ]
    rows.sort(key=lambda row: (-row.identities, -row.sessions, row.ref))
    return rows


def compute(events: Iterable[StoredEvent], plan: Plan) -> Rollups:
    """The rollups of one run; events outside the plan's read window are ignored."""
    start, end = plan.read_start, plan.read_end
    read = [event for event in events if start <= event.ended_at < end]
    kept = capped(read)
    last = plan.last_day.isoformat()

    def window(days: int) -> list[StoredEvent]:
        return _in_days(kept, (plan.last_day - timedelta(days=days - 1)).isoformat(), last)

    return Rollups(
        as_of=last,
        daily=_daily(kept, Counter(event.day for event in read), plan.daily_days),
        versions={name: _versions(window(days)) for name, days in VERSION_WINDOWS.items()},
        refs=_refs(window(REF_WINDOW[1])),
    )
