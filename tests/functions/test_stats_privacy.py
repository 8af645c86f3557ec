"""The publication rule on plain rows: K, complementary suppression, rounding, refs by name."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_events.read.settings import ReadSettings
from session_events.rollups.compute import DailyRow, Plan, RefRow, VersionRow, compute
from session_events.rollups.privacy import (
    public_daily,
    public_refs,
    public_versions,
    publish_count,
    suppressed_positions,
)
from session_events.stores.readmodel import StoredEvent


def daily(*counts: tuple[int, int]) -> list[DailyRow]:
    return [
        DailyRow(f"2026-05-{i + 1:02d}", ids, sessions) for i, (ids, sessions) in enumerate(counts)
    ]


def version(name: str, ids: int, sessions: int) -> VersionRow:
    return VersionRow(name, ids, sessions, 3, 9, 100, 900)


@pytest.mark.parametrize(
    ("value", "k", "shown"),
    [
        (10, 10, 10),
        (12, 10, 10),
        (13, 10, 15),
        (17, 10, 15),
        (18, 10, 20),
        (7, 7, 10),
        (5, 5, 5),
        (6, 5, 5),
        (8, 5, 10),
        (1234, 10, 1235),
    ],
)
def test_published_counts_round_to_nearest_five_never_below_k(
    value: int, k: int, shown: int
) -> None:
    assert publish_count(value, k) == shown


@pytest.mark.parametrize(
    ("identities", "hidden"),
    [
        ([20, 30, 40], set()),
        ([3, 30, 40], {0, 1}),  # one below K: the next smallest goes too
        ([3, 4, 40], {0, 1}),  # two below K: nothing more
        ([30, 3, 12, 40], {1, 2}),
        ([3], {0}),
        ([], set()),
    ],
)
def test_complementary_suppression(identities: list[int], hidden: set[int]) -> None:
    assert suppressed_positions(identities, identities, 10) == hidden


def test_next_smallest_ties_break_on_sessions() -> None:
    assert suppressed_positions([2, 20, 20], [2, 50, 40], 10) == {0, 2}


def test_a_day_below_k_is_published_as_null_and_suppressed() -> None:
    rows = public_daily(daily((4, 9), (12, 40), (25, 60)), 10)
    assert rows[0] == {
        "day": "2026-05-01",
        "identities": None,
        "sessions": None,
        "suppressed": True,
    }
    assert rows[1]["suppressed"] is True  # complementary
    assert rows[2] == {"day": "2026-05-03", "identities": 25, "sessions": 60, "suppressed": False}


def test_a_suppressed_version_keeps_its_name_and_loses_every_number() -> None:
    rows = public_versions(
        [version("2.0", 40, 90), version("1.0", 3, 5), version("1.5", 20, 30)], 10
    )
    hidden = [row for row in rows if row["suppressed"]]
    assert [row["version"] for row in hidden] == ["1.0", "1.5"]
    assert hidden[0]["identities"] is None and hidden[0]["tool_count"] == {"p50": None, "p90": None}
    assert rows[0]["tool_count"] == {"p50": 3, "p90": 9}


def test_refs_below_k_are_not_named() -> None:
    rows = [
        RefRow("popular", 40, 80, "2026-05-01", "2026-05-28"),
        RefRow("rare", 9, 30, "2026-05-02", "2026-05-02"),
    ]
    assert [row["ref"] for row in public_refs(rows, 10, 50)] == ["popular"]


def test_refs_limit_keeps_the_most_used() -> None:
    rows = [RefRow(f"r{n}", 10 + n, 20, "2026-05-01", "2026-05-02") for n in range(5)]
    assert [row["ref"] for row in public_refs(rows, 10, 2)] == ["r4", "r3"]


@pytest.mark.parametrize(("raw", "k"), [("", 10), ("12", 12), ("5", 5), ("3", 5), ("1", 5)])
def test_k_is_never_below_five(raw: str, k: int) -> None:
    assert ReadSettings.from_env({"SESSION_EVENTS_PUBLISH_K": raw}).publish_k == k


counts = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 40)), max_size=12).map(
    lambda pairs: [(ids, ids + extra) for ids, extra in pairs]
)
ks = st.integers(5, 30)


@settings(max_examples=300, deadline=None)
@given(counts, ks)
def test_no_published_number_describes_fewer_than_k_identities(
    pairs: list[tuple[int, int]], k: int
) -> None:
    rows = daily(*pairs)
    for true, shown in zip(rows, public_daily(rows, k), strict=True):
        if not shown["suppressed"]:
            assert true.identities >= k
            assert shown["identities"] >= k and shown["sessions"] >= k
    versions = [version(f"v{i}", ids, s) for i, (ids, s) in enumerate(pairs)]
    for true_v, shown_v in zip(versions, public_versions(versions, k), strict=True):
        assert shown_v["suppressed"] or true_v.identities >= k
    refs = [RefRow(f"r{i}", ids, s, "2026-05-01", "2026-05-02") for i, (ids, s) in enumerate(pairs)]
    named = {row["ref"] for row in public_refs(refs, k, 200)}
    assert named == {ref.ref for ref in refs if ref.identities >= k}


@settings(max_examples=300, deadline=None)
@given(counts, ks)
def test_no_suppressed_number_follows_from_the_published_ones_and_a_total(
    pairs: list[tuple[int, int]], k: int
) -> None:
    groups = [
        public_daily(daily(*pairs), k),
        public_versions([version(f"v{i}", ids, s) for i, (ids, s) in enumerate(pairs)], k),
    ]
    for shown in groups:
        hidden = [row for row in shown if row["suppressed"]]
        if len(shown) > 1:
            # a published total minus the published rows leaves two or more hidden rows, never one
            assert len(hidden) != 1


def _event(identity: int, day: int, n: int, version: str) -> StoredEvent:
    return StoredEvent(
        identity_hash=f"{identity:064x}",
        session_id_hash=f"{identity:032x}{day:016x}{n:016x}",
        ended_at=f"2026-05-{day:02d}T10:00:{n:02d}.000Z",
        tool_count=n,
        tokens_saved=n,
        plugin_version=version,
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40),
            st.integers(1, 28),
            st.integers(0, 3),
            st.sampled_from(["1.0", "1.1", "2.0"]),
        ),
        max_size=150,
        unique_by=lambda t: t[:3],
    ),
    ks,
)
def test_published_rows_of_real_rollups_describe_at_least_k_identities(
    rows: list[tuple[int, int, int, str]], k: int
) -> None:
    events = [_event(*row) for row in rows]
    plan = Plan(last_day=date(2026, 5, 28), days=28)
    rollups = compute(events, plan)
    for shown in public_daily(rollups.daily, k):
        if not shown["suppressed"]:
            truth = {e.identity_hash for e in events if e.day == shown["day"]}
            assert len(truth) >= k
    for window, days in (("7d", 7), ("28d", 28)):
        for shown in public_versions(rollups.versions[window], k):
            if not shown["suppressed"]:
                first = f"2026-05-{29 - days:02d}"
                truth = {
                    e.identity_hash
                    for e in events
                    if e.plugin_version == shown["version"] and e.day >= first
                }
                assert len(truth) >= k
