"""The rollup computation on in-memory rows: windows, distinct counts, the cap, percentiles."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from session_events.rollups.compute import Plan, compute, percentile
from session_events.rollups.documents import read_daily, read_refs, read_versions, to_documents
from session_events.stores.memory import MemoryStore
from session_events.stores.readmodel import StoredEvent

LAST = date(2026, 5, 28)
PLAN = Plan(last_day=LAST, days=8)


def ev(
    identity: str,
    day: str,
    n: int = 0,
    *,
    version: str = "1.0.0",
    tools: int = 1,
    tokens: int = 0,
    refs: tuple[str, ...] = (),
    hour: int = 12,
) -> StoredEvent:
    return StoredEvent(
        identity_hash=identity * 64 if len(identity) == 1 else identity,
        session_id_hash=f"{identity}-{day}-{n}-{hour}",
        ended_at=f"{day}T{hour:02d}:00:{n % 60:02d}.000Z",
        tool_count=tools,
        tokens_saved=tokens,
        plugin_version=version,
        discovery_refs=refs,
    )


def test_daily_rows_cover_the_run_days_oldest_first_with_zero_days() -> None:
    rollups = compute([ev("a", "2026-05-27")], PLAN)
    assert [row.day for row in rollups.daily] == [f"2026-05-{d}" for d in range(21, 29)]
    assert [(row.identities, row.sessions) for row in rollups.daily][-2:] == [(1, 1), (0, 0)]


def test_one_identity_counts_once_a_day_however_many_sessions() -> None:
    events = [ev("a", "2026-05-28", n) for n in range(3)] + [ev("b", "2026-05-28")]
    [row] = [row for row in compute(events, PLAN).daily if row.day == "2026-05-28"]
    assert (row.identities, row.sessions) == (2, 4)


def test_sessions_count_at_most_twenty_per_identity_a_day() -> None:
    events = [ev("a", "2026-05-28", n) for n in range(35)] + [
        ev("a", "2026-05-27", n) for n in range(5)
    ]
    daily = {row.day: row for row in compute(events, PLAN).daily}
    assert daily["2026-05-28"].sessions == 20
    assert daily["2026-05-27"].sessions == 5


def test_the_cap_keeps_the_earliest_sessions_for_the_percentiles() -> None:
    early = [ev("a", "2026-05-28", n, tools=1, hour=1) for n in range(20)]
    late = [ev("a", "2026-05-28", n, tools=1000, hour=23) for n in range(10)]
    [row] = compute(early + late, PLAN).versions["7d"]
    assert (row.sessions, row.tool_count_p90) == (20, 1)


def test_version_windows_are_seven_and_twenty_eight_days_ending_with_the_last_day() -> None:
    events = [
        ev("a", "2026-05-22"),
        ev("b", "2026-05-21"),
        ev("c", "2026-05-01"),
        ev("d", "2026-04-30"),
    ]
    versions = compute(events, PLAN).versions
    assert versions["7d"][0].identities == 1
    assert versions["28d"][0].identities == 3


def test_events_outside_the_read_window_are_ignored() -> None:
    events = [ev("a", "2026-05-29"), ev("b", "2026-04-30")]
    rollups = compute(events, PLAN)
    assert rollups.versions == {"7d": [], "28d": []}
    assert sum(row.sessions for row in rollups.daily) == 0


def test_an_identity_on_two_versions_counts_in_each() -> None:
    events = [ev("a", "2026-05-28", 0, version="1.0.0"), ev("a", "2026-05-28", 1, version="2.0.0")]
    rows = {row.version: row for row in compute(events, PLAN).versions["7d"]}
    assert rows["1.0.0"].identities == rows["2.0.0"].identities == 1


@pytest.mark.parametrize(
    ("values", "p50", "p90"),
    [
        ([5], 5, 5),
        ([1, 2], 1, 2),
        ([3, 1, 2], 2, 3),
        (list(range(1, 11)), 5, 9),
        (list(range(1, 101)), 50, 90),
    ],
)
def test_percentiles_are_nearest_rank(values: list[int], p50: int, p90: int) -> None:
    assert (percentile(values, 0.5), percentile(values, 0.9)) == (p50, p90)


def test_version_rows_carry_median_and_p90_of_tools_and_tokens() -> None:
    events = [ev("a", "2026-05-28", n, tools=n, tokens=10 * n) for n in range(1, 11)]
    [row] = compute(events, PLAN).versions["28d"]
    assert (row.tool_count_p50, row.tool_count_p90) == (5, 9)
    assert (row.tokens_saved_p50, row.tokens_saved_p90) == (50, 90)


def test_refs_count_identities_sessions_and_first_and_last_day() -> None:
    events = [ev(c, "2026-05-10", refs=("skill:grep",)) for c in "abcde"]
    events += [ev("a", "2026-05-20", 1, refs=("skill:grep", "skill:grep"))]
    [row] = compute(events, PLAN).refs
    assert (row.ref, row.identities, row.sessions) == ("skill:grep", 5, 6)
    assert (row.first_seen_day, row.last_seen_day) == ("2026-05-10", "2026-05-20")


def test_refs_of_fewer_than_five_identities_are_not_kept_at_all() -> None:
    events = [ev(c, "2026-05-10", refs=("rare",)) for c in "abcd"]
    assert compute(events, PLAN).refs == []


def test_rollups_hold_no_hash_and_no_session_id() -> None:
    events = [ev(c, "2026-05-28", refs=("doc:readme",)) for c in "abcdef"]
    text = "".join(to_documents(compute(events, PLAN)).values())
    for event in events:
        assert event.identity_hash not in text
        assert event.session_id_hash not in text


def test_documents_read_back_as_the_computed_rows() -> None:
    events = [ev(c, "2026-05-28", refs=("doc:readme",)) for c in "abcdef"]
    rollups = compute(events, PLAN)
    store = MemoryStore()
    store.write_rollups(to_documents(rollups))
    assert read_daily(store, PLAN.daily_days) == rollups.daily
    assert read_versions(store, "7d") == ("2026-05-28", rollups.versions["7d"])
    assert read_refs(store) == ("2026-05-28", rollups.refs)


def test_a_large_refs_rollup_is_split_and_read_back_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import session_events.rollups.documents as docs

    monkeypatch.setattr(docs, "PART_CHARS", 300)
    refs = tuple(f"ref-{n:03d}" for n in range(40))
    rollups = compute([ev(c, "2026-05-28", refs=refs) for c in "abcde"], PLAN)
    documents = to_documents(rollups)
    assert "refs:28d:1" in documents
    store = MemoryStore()
    store.write_rollups(documents)
    assert read_refs(store)[1] == rollups.refs


identities = st.sampled_from("abcdefgh")
days = st.sampled_from(["2026-05-01", "2026-05-20", "2026-05-27", "2026-05-28"])
events_strategy = st.lists(
    st.builds(
        ev,
        identities,
        days,
        st.integers(0, 30),
        version=st.sampled_from(["1.0", "2.0"]),
        tools=st.integers(0, 50),
        refs=st.lists(st.sampled_from(["r1", "r2"]), max_size=2).map(tuple),
    ),
    max_size=60,
    unique_by=lambda e: (e.identity_hash, e.session_id_hash),
)


@settings(max_examples=60, deadline=None)
@given(events_strategy)
def test_a_second_run_over_the_same_events_writes_the_same_rollups(
    events: list[StoredEvent],
) -> None:
    first = to_documents(compute(events, PLAN))
    second = to_documents(compute(list(reversed(events)), PLAN))
    assert first == second
