"""One week's public release, computed in memory: what the measurement receives, what OpenDP's
privacy map says of the whole, and what post-processing publishes.

The noise is OpenDP's and cannot be seeded, so no assertion here depends on a noisy value:
each one holds for every draw (a median is a grid candidate whatever the draw), or reads
OpenDP's own map, or feeds chosen noisy outputs to the post-processing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.metadata import version
from typing import Any

import opendp.prelude as dp
import pytest
from support import hexhash

from session_events.rollups.release import (
    REFS_PER_IDENTITY,
    SESSIONS_PER_IDENTITY,
    SPLIT,
    TOKENS_SAVED_BOUNDS,
    TOKENS_SAVED_GRID,
    TOOL_COUNT_BOUNDS,
    TOOL_COUNT_GRID,
    BudgetExceeded,
    Contribution,
    contributions,
    measure,
    plan,
    publish,
    release_week,
)
from session_events.rollups.releases import DELTA, ReleaseSettings
from session_events.rollups.weeks import IsoWeek
from session_events.stores.readmodel import StoredEvent

WEEK = IsoWeek.parse("2026-W10")  # Monday 2026-03-02 to Sunday 2026-03-08
SETTINGS = ReleaseSettings(
    epsilon=1.0, k=10, public_versions=("1.0.0", "1.1.0"), public_refs=("doc:intro", "skill:grep")
)


def sessions(
    identity: str,
    count: int,
    *,
    version: str = "1.0.0",
    tools: int = 5,
    tokens: int = 500,
    refs: tuple[str, ...] = (),
    day: int = 3,
) -> list[StoredEvent]:
    """`count` sessions of one identity on 2026-03-<day>, one a minute."""
    return [
        StoredEvent(
            identity_hash=hexhash(identity),
            session_id_hash=hexhash(f"{identity}-{day}-{n}"),
            ended_at=f"2026-03-{day:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00.000Z",
            tool_count=tools,
            tokens_saved=tokens,
            plugin_version=version,
            discovery_refs=refs,
        )
        for n in range(count)
    ]


def crowd(size: int, **shape: Any) -> list[StoredEvent]:
    events: list[StoredEvent] = []
    for n in range(size):
        events += sessions(f"person-{n}", 3, **shape)
    return events


def release(events: Iterable[StoredEvent], settings: ReleaseSettings = SETTINGS) -> dict[str, Any]:
    return release_week(WEEK, events, settings, released_at="2026-03-11T00:00:00.000Z")


# -- contribution bounds -----------------------------------------------------------------------


def heavy_identity() -> list[StoredEvent]:
    """1,000 sessions in the week over 50 versions and 200 refs, values far past the clips."""
    events = []
    for n in range(1000):
        events.append(
            StoredEvent(
                identity_hash=hexhash("heavy"),
                session_id_hash=hexhash(f"heavy-{n}"),
                ended_at=f"2026-03-{2 + n % 7:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00.000Z",
                tool_count=5000 + n,
                tokens_saved=9_000_000 + n,
                plugin_version=f"9.{n % 50}.0",
                discovery_refs=tuple(f"ref-{(n + i) % 200:03d}" for i in range(40)),
            )
        )
    return events


def test_a_heavy_identity_enters_as_one_bounded_record() -> None:
    (record,) = contributions(heavy_identity(), WEEK)
    assert record.sessions == SESSIONS_PER_IDENTITY
    assert record.version.startswith("9.") and record.version.endswith(".0")
    assert len(record.refs) == REFS_PER_IDENTITY
    assert record.tool_count == TOOL_COUNT_BOUNDS[1]
    assert record.tokens_saved == TOKENS_SAVED_BOUNDS[1]


def test_the_heavy_identity_moves_each_measured_input_by_at_most_its_bound() -> None:
    """With and without the identity, every input the measurement receives (before noise)
    differs by no more than the public bound: OpenDP's own transformations are run."""
    others = crowd(30, refs=("doc:intro", "ref-001"))
    chosen = plan(SETTINGS)
    without = chosen.bounded_inputs(contributions(others, WEEK))
    with_heavy = chosen.bounded_inputs(contributions(others + heavy_identity(), WEEK))
    assert with_heavy["identities"] - without["identities"] == 1
    assert 0 <= with_heavy["sessions"] - without["sessions"] <= SESSIONS_PER_IDENTITY
    for name, bounds in (
        ("tool_count_median", TOOL_COUNT_BOUNDS),
        ("tokens_saved_median", TOKENS_SAVED_BOUNDS),
    ):
        added = sorted(with_heavy[name])
        for value in without[name]:
            added.remove(value)
        assert len(added) == 1 and bounds[0] <= added[0] <= bounds[1], name
    # One version: an L1 change of at most one over declared and other versions together.
    declared = sum(
        abs(a - b)
        for a, b in zip(with_heavy["declared_versions"], without["declared_versions"], strict=True)
    )
    other = {
        key: with_heavy["other_versions"].get(key, 0) - without["other_versions"].get(key, 0)
        for key in with_heavy["other_versions"]
    }
    assert declared + sum(abs(v) for v in other.values()) <= 1
    # At most five refs, each counted once.
    declared_refs = [
        a - b for a, b in zip(with_heavy["declared_refs"], without["declared_refs"], strict=True)
    ]
    other_refs = {
        key: with_heavy["other_refs"].get(key, 0) - without["other_refs"].get(key, 0)
        for key in with_heavy["other_refs"]
    }
    changes = [c for c in declared_refs + list(other_refs.values()) if c]
    assert len(changes) <= REFS_PER_IDENTITY and all(c == 1 for c in changes)


def test_one_identity_counts_once_towards_its_most_used_version_tie_to_the_highest() -> None:
    events = sessions("a", 3, version="1.9.0") + sessions("a", 3, version="1.10.0", day=4)
    events += sessions("a", 1, version="2.0.0", day=5)
    (record,) = contributions(events, WEEK)
    assert record.version == "1.10.0"


def test_refs_are_the_most_used_five_ties_by_name_and_a_ref_twice_in_a_session_is_once() -> None:
    events = sessions("a", 1, refs=("z", "z", "z", "y")) + sessions(
        "a", 2, refs=("b", "a", "c", "d", "e", "f"), day=4
    )
    (record,) = contributions(events, WEEK)
    assert record.refs == ("a", "b", "c", "d", "e")


def test_events_outside_the_week_are_not_part_of_it() -> None:
    inside = sessions("a", 2, day=8)
    outside = sessions("b", 2, day=9) + sessions("c", 2, day=1)
    assert [r.sessions for r in contributions(inside + outside, WEEK)] == [2]


# -- the privacy map -------------------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 10.0])
def test_opendp_map_of_the_whole_release_is_within_the_budget(epsilon: float) -> None:
    settings = ReleaseSettings(
        epsilon=epsilon, k=10, public_versions=("1.0.0",), public_refs=("doc:intro",)
    )
    chosen = plan(settings)
    assert set(chosen.names) == set(SPLIT)  # every measure is in the one composition
    measurement = chosen.measurement
    assert measurement.check(1, (epsilon, DELTA))
    spent_epsilon, spent_delta = measurement.map(1)
    assert spent_epsilon <= epsilon and spent_delta <= DELTA
    document = release([], settings)
    assert document["privacy"] == {
        "unit": "identity-week",
        "epsilon": epsilon,
        "delta": DELTA,
        "library": f"opendp {version('opendp')}",
    }


def test_a_split_over_the_budget_is_refused_before_any_data_is_measured() -> None:
    greedy = {name: share * 1.5 for name, share in SPLIT.items()}
    touched: list[int] = []

    def events() -> Iterable[StoredEvent]:
        touched.append(1)
        yield from crowd(20)

    with pytest.raises(BudgetExceeded, match=r"epsilon=1\.5.*over the budget epsilon=1"):
        release_week(WEEK, events(), SETTINGS, released_at="x", split=greedy)
    assert touched == []


# -- what a release can show -------------------------------------------------------------------


def test_a_median_is_always_a_grid_candidate_never_the_targets_value() -> None:
    """Ten people at 3 tools and a target at 437 (not a candidate): whatever the draw, the
    measured median is a grid value, so it is never 437 (nor the target's 123,457 tokens)."""
    events = crowd(10, tools=3, tokens=300) + sessions("target", 1, tools=437, tokens=123_457)
    chosen = plan(SETTINGS)
    records = contributions(events, WEEK)
    assert sorted(chosen.bounded_inputs(records)["tool_count_median"]) == [3] * 10 + [437]
    for _ in range(20):
        outputs = measure(chosen, records)
        assert outputs["tool_count_median"] in TOOL_COUNT_GRID
        assert outputs["tokens_saved_median"] in TOKENS_SAVED_GRID
    assert 437 not in TOOL_COUNT_GRID and 123_457 not in TOKENS_SAVED_GRID


def test_an_undeclared_key_held_by_ten_identities_is_all_but_impossible_to_select() -> None:
    """OpenDP's map of the key selection at the release's own scale and threshold, for a
    key whose count is 10 (the target and nine invented identities) against the same data
    without it, bounds the chance that the key appears at all: below 1e-7 at the default
    ε, below 1e-5 even at the largest ε allowed."""
    for epsilon, bound in ((0.1, 1e-7), (1.0, 1e-7), (10.0, 1e-5)):
        chosen = plan(ReleaseSettings(epsilon=epsilon, k=10))
        for name in ("other_versions", "other_refs"):
            selection = dp.m.make_laplace_threshold(
                dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)),
                dp.l01inf_distance(dp.absolute_distance(T=int)),
                scale=chosen.scales[name],
                threshold=chosen.thresholds[name],
            )
            _eps, chance = selection.map((1, 10, 10))
            assert chance < bound, (epsilon, name, chance)


def test_nothing_about_days_or_exact_sessions_per_key_is_in_a_release() -> None:
    events = crowd(40, refs=("doc:intro",)) + sessions("target", 1, refs=("doc:intro",), day=7)
    document = release(events)
    text = json.dumps(document)
    assert "2026-03-" not in text.replace(document["released_at"], "")
    for row in document["versions"]:
        assert set(row) == {"version", "identities"}
    for row in document["refs"]:
        assert set(row) == {"ref", "identities"}


# -- post-processing ----------------------------------------------------------------------------

OUTPUTS = {
    "identities": 12.4,
    "sessions": -3,
    "tool_count_median": 5,
    "tokens_saved_median": 500,
    "declared_versions": [9, 30],
    "other_versions": {"0.1-dev": 400},
    "declared_refs": [-2, 11],
    "other_refs": {},
}


def published(**changes: Any) -> dict[str, Any]:
    return publish(WEEK, {**OUTPUTS, **changes}, SETTINGS, spent=(1.0, 1e-7), released_at="x")


def test_counts_are_whole_never_negative_and_keys_below_k_are_left_out() -> None:
    document = published()
    assert document["identities"] == 12 and document["sessions"] == 0
    assert document["versions"] == [
        {"version": "0.1-dev", "identities": 400},
        {"version": "1.1.0", "identities": 30},
    ]
    assert document["refs"] == [{"ref": "skill:grep", "identities": 11}]


def test_a_week_below_k_publishes_nulls_and_no_keys() -> None:
    document = published(identities=9.6)
    assert document["identities"] == 10  # rounds to 10: K is reached
    document = published(identities=9.4)
    assert {
        key: document[key]
        for key in ("identities", "sessions", "tool_count_median", "tokens_saved_median")
    } == dict.fromkeys(("identities", "sessions", "tool_count_median", "tokens_saved_median"))
    assert document["versions"] == [] and document["refs"] == []


def test_a_record_line_is_what_the_measurement_reads() -> None:
    record = Contribution("1.0.0", 20, 1000, 5, ("a", "b"))
    chosen = plan(SETTINGS)
    inputs = chosen.bounded_inputs([record])
    assert inputs["identities"] == 1 and inputs["sessions"] == 20
    assert inputs["tool_count_median"] == [1000] and inputs["tokens_saved_median"] == [5]
    assert inputs["other_refs"] == {"a": 1, "b": 1}
    assert set(measure(chosen, [record])) == set(chosen.names)
