"""One ISO week's public release (README.md, "Public statistics"): contributions bounded per
identity, measured by one OpenDP composition whose privacy map is checked against the budget,
then rounded.

Pure: the week's events and the settings in, a release document out; nothing here reads or
writes a store. OpenDP is imported here, on the rollup job's path only.

How the privacy holds:

- `contributions` turns each identity's week into one record within the public bounds (one
  version, at most 20 sessions, at most 5 refs, its own medians clipped), so adding or
  removing one identity adds or removes exactly one record: the unit is the identity-week.
- The records go to OpenDP as lines of text (`Vec<String>`, symmetric distance 1 per
  identity). Every figure is an OpenDP measurement of them: noise, quantile selection and
  key selection are OpenDP's, sampled by OpenDP; no noise is drawn here.
- OpenDP has no transformation that picks a field of such a line, so each field is read
  by a `make_user_transformation` ("honest-but-curious") whose stability is stated: one
  line gives at most one value (at most REFS_PER_IDENTITY refs, enforced by the function
  itself whatever the line holds), so d symmetric distance in is d (or 5d) out.
- Each measure's noise is the smallest that keeps its OpenDP privacy map within its share
  of ε (SPLIT); the composition's map, computed by OpenDP, is checked against (ε, δ)
  before the measurement is run, and BudgetExceeded is raised instead of a release.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version as package_version
from typing import Any

import opendp.prelude as dp

from session_events.core.errors import ConfigurationError
from session_events.rollups.releases import DELTA, ReleaseSettings, privacy_block
from session_events.rollups.weeks import IsoWeek
from session_events.stores.readmodel import StoredEvent, stamp

dp.enable_features("contrib", "honest-but-curious")

# -- the public constants (the README states them) ------------------------------------------

SESSIONS_PER_IDENTITY = 20
REFS_PER_IDENTITY = 5
TOOL_COUNT_BOUNDS = (0, 1000)
TOKENS_SAVED_BOUNDS = (0, 2_000_000)

# Medians are chosen among these candidates only, so an output is never one person's value.
TOOL_COUNT_GRID = (
    0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100,
    120, 150, 200, 250, 300, 400, 500, 600, 800, 1000,
)  # fmt: skip
TOKENS_SAVED_GRID = (
    0, 100, 200, 300, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000,
    30_000, 50_000, 75_000, 100_000, 150_000, 200_000, 300_000, 500_000, 750_000,
    1_000_000, 1_500_000, 2_000_000,
)  # fmt: skip

# The fixed split of ε among the measures (shares of the whole; they add up to 1).
SPLIT: dict[str, float] = {
    "identities": 0.20,
    "sessions": 0.10,
    "tool_count_median": 0.10,
    "tokens_saved_median": 0.10,
    "declared_versions": 0.20,
    "other_versions": 0.05,
    "declared_refs": 0.20,
    "other_refs": 0.05,
}
# δ goes to key selection only, half to versions, half to refs.
DELTA_SPLIT: dict[str, float] = {"other_versions": 0.5, "other_refs": 0.5}
# Each measure is fitted a hair inside its share, so OpenDP's rounded-up sum stays within ε.
_FIT = 1 - 1e-9
# At most this many keys of each kind are published (post-processing: the most counted).
MAX_KEYS = 500


@lru_cache(maxsize=1)
def opendp_version() -> str:
    return package_version("opendp")


class BudgetExceeded(ConfigurationError):
    """The release as configured would spend more than its budget; nothing is released."""


# -- contribution bounds ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contribution:
    """One identity's week as the measurement receives it, every field within its bound."""

    version: str
    sessions: int
    tool_count: int
    tokens_saved: int
    refs: tuple[str, ...] = field(default=())

    def line(self) -> str:
        record = [self.version, self.sessions, self.tool_count, self.tokens_saved, self.refs]
        return json.dumps(record, separators=(",", ":"))


def _version_order(version: str) -> tuple[tuple[int, int, str], ...]:
    """Orders versions as people read them: numeric parts by value (1.10 above 1.9)."""
    parts = version.replace("+", ".").replace("-", ".").replace("_", ".").split(".")
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts)


def _lower_median(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def _clip(value: int, bounds: tuple[int, int]) -> int:
    return min(max(value, bounds[0]), bounds[1])


def _bounded(events: list[StoredEvent]) -> Contribution:
    versions = Counter(event.plugin_version for event in events)
    version = max(versions, key=lambda v: (versions[v], _version_order(v), v))
    refs: Counter[str] = Counter()
    for event in events:
        refs.update(set(event.discovery_refs))  # a ref twice in a session counts once
    top_refs = sorted(refs, key=lambda ref: (-refs[ref], ref))[:REFS_PER_IDENTITY]
    return Contribution(
        version=version,
        sessions=min(len(events), SESSIONS_PER_IDENTITY),
        tool_count=_clip(_lower_median([e.tool_count for e in events]), TOOL_COUNT_BOUNDS),
        tokens_saved=_clip(_lower_median([e.tokens_saved for e in events]), TOKENS_SAVED_BOUNDS),
        refs=tuple(top_refs),
    )


def contributions(events: Iterable[StoredEvent], week: IsoWeek) -> list[Contribution]:
    """One bounded record per identity with events in the week (others' events are ignored)."""
    first, last = stamp(week.start), stamp(week.end)
    by_identity: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        if first <= event.ended_at < last:
            by_identity[event.identity_hash].append(event)
    records = [_bounded(group) for group in by_identity.values()]
    records.sort(key=Contribution.line)  # no trace of the identities' order
    return records


# -- the measurement --------------------------------------------------------------------------

_LINES = (dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance())


def _field(pick: Callable[[list[Any]], list[Any]], kind: type, per_line: int) -> dp.Transformation:
    """Lines -> the values `pick` reads from each, at most `per_line` a line (its stability)."""

    def function(lines: list[str]) -> list[Any]:
        values: list[Any] = []
        for line in lines:
            values.extend(pick(json.loads(line))[:per_line])
        return values

    return dp.t.make_user_transformation(
        *_LINES,
        dp.vector_domain(dp.atom_domain(T=kind)),
        dp.symmetric_distance(),
        function,
        lambda d_in: d_in * per_line,
    )


def _loss(measurement: dp.Measurement) -> Any:
    """OpenDP's privacy map at one identity: ε, or (ε, δ) for approximate measures."""
    return measurement.map(1)  # type: ignore[no-untyped-call]


def _epsilon(loss: Any) -> float:
    return float(loss[0] if isinstance(loss, tuple) else loss)


def _fitted_scale(make: Callable[[float], dp.Measurement], epsilon: float) -> float:
    """The smallest noise scale whose OpenDP map, for one identity, is within `epsilon`.

    Every map used here falls as 1/scale, so the loss at scale 1 gives the answer at once;
    OpenDP's map has the last word (nudged up while it says no, else a binary search).
    """

    def within(scale: float) -> bool:
        return _epsilon(_loss(make(scale))) <= epsilon

    guess = _epsilon(_loss(make(1.0))) / epsilon
    for _ in range(4):
        if within(guess):
            return guess
        guess *= 1 + 1e-12
    return float(dp.binary_search(within, bounds=(1e-6, 1e12), T=float))


def _fitted_threshold(make: Callable[[int], dp.Measurement], delta: float) -> int:
    """The smallest threshold whose OpenDP map, for one identity, keeps δ within `delta`."""

    def within(threshold: int) -> bool:
        return float(_loss(make(threshold))[1]) <= delta

    return int(dp.binary_search(within, bounds=(REFS_PER_IDENTITY, 2**31 - 1), T=int))  # type: ignore[arg-type]


@dataclass
class Plan:
    """The release's measurement: each measure's bounded input (`heads`, before any noise),
    its noise scale and threshold, their composition, and OpenDP's map of the whole."""

    settings: ReleaseSettings
    heads: dict[str, dp.Transformation] = field(default_factory=dict)
    parts: dict[str, dp.Measurement] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, int] = field(default_factory=dict)
    spent: tuple[float, float] = (0.0, 0.0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.parts)

    @property
    def measurement(self) -> dp.Measurement:
        """One OpenDP measurement: the composition of every part, in `names` order."""
        return dp.c.make_composition([self.parts[name] for name in self.names])

    def bounded_inputs(self, records: Sequence[Contribution]) -> dict[str, Any]:
        """What each measure receives before its noise: counts, sums, clipped values."""
        lines = [record.line() for record in records]
        return {name: head(lines) for name, head in self.heads.items()}

    def noisy(
        self, name: str, head: dp.Transformation, then: Callable[..., Any], eps: float
    ) -> None:
        """A measure with noise fitted to `eps`, released whatever its value."""
        scale = _fitted_scale(lambda s: head >> then(scale=s), eps)
        self.heads[name], self.scales[name] = head, scale
        self.parts[name] = dp.c.make_approximate(head >> then(scale=scale))

    def selected(self, name: str, head: dp.Transformation, eps: float, delta: float) -> None:
        """Counts per key, each key released only when its noisy count clears the threshold."""
        counts = head >> dp.t.then_count_by(TV=int)
        # A threshold far above any count leaves ε alone while the scale is fitted.
        scale = _fitted_scale(
            lambda s: counts >> dp.m.then_laplace_threshold(scale=s, threshold=2**31 - 1), eps
        )
        threshold = _fitted_threshold(
            lambda t: counts >> dp.m.then_laplace_threshold(scale=scale, threshold=t), delta
        )
        self.heads[name], self.scales[name], self.thresholds[name] = counts, scale, threshold
        self.parts[name] = counts >> dp.m.then_laplace_threshold(scale=scale, threshold=threshold)


def _quantile(candidates: Sequence[int]) -> Callable[..., Any]:
    def then(scale: float) -> Any:
        return dp.m.then_private_quantile(
            dp.max_divergence(), candidates=list(candidates), alpha=0.5, scale=scale
        )

    return then


def _refs(keep: Callable[[str], bool]) -> dp.Transformation:
    return _field(
        lambda r: [ref for ref in dict.fromkeys(r[4]) if keep(ref)], str, REFS_PER_IDENTITY
    )


def _build_plan(settings: ReleaseSettings, split: dict[str, float]) -> Plan:
    built = Plan(settings)
    shares = {name: share * settings.epsilon * _FIT for name, share in split.items()}
    deltas = {name: share * DELTA * _FIT for name, share in DELTA_SPLIT.items()}
    versions = sorted(set(settings.public_versions))
    refs = sorted(set(settings.public_refs))

    built.noisy(
        "identities", dp.t.make_count(*_LINES, TO=int), dp.m.then_laplace, shares["identities"]
    )
    sessions = _field(lambda r: [r[1]], int, 1) >> dp.t.then_clamp((0, SESSIONS_PER_IDENTITY))
    built.noisy("sessions", sessions >> dp.t.then_sum(), dp.m.then_laplace, shares["sessions"])  # type: ignore[no-untyped-call]
    tool_count = _field(lambda r: [r[2]], int, 1) >> dp.t.then_clamp(TOOL_COUNT_BOUNDS)
    built.noisy(
        "tool_count_median", tool_count, _quantile(TOOL_COUNT_GRID), shares["tool_count_median"]
    )
    tokens = _field(lambda r: [r[3]], int, 1) >> dp.t.then_clamp(TOKENS_SAVED_BOUNDS)
    built.noisy(
        "tokens_saved_median", tokens, _quantile(TOKENS_SAVED_GRID), shares["tokens_saved_median"]
    )
    version = _field(lambda r: [r[0]], str, 1)
    if versions:
        declared = version >> dp.t.then_count_by_categories(
            categories=versions, null_category=False
        )
        built.noisy("declared_versions", declared, dp.m.then_laplace, shares["declared_versions"])
    other = _field(lambda r: [r[0]] if r[0] not in versions else [], str, 1)
    built.selected("other_versions", other, shares["other_versions"], deltas["other_versions"])
    if refs:
        declared = _refs(lambda _ref: True) >> dp.t.then_count_by_categories(
            categories=refs, null_category=False
        )
        built.noisy("declared_refs", declared, dp.m.then_laplace, shares["declared_refs"])
    built.selected(
        "other_refs", _refs(lambda ref: ref not in refs), shares["other_refs"], deltas["other_refs"]
    )

    loss = _loss(built.measurement)
    built.spent = (float(loss[0]), float(loss[1]))
    if built.spent[0] > settings.epsilon or built.spent[1] > DELTA:
        raise BudgetExceeded(
            f"the release would spend epsilon={built.spent[0]:.6g}, delta={built.spent[1]:.3g} "
            f"per identity-week, over the budget epsilon={settings.epsilon:g}, delta={DELTA:g}: "
            "nothing is released"
        )
    return built


def plan(settings: ReleaseSettings, split: dict[str, float] | None = None) -> Plan:
    """The composed measurement for these settings, its map checked against (ε, δ).

    `split` is the table of shares (SPLIT unless a test says otherwise). BudgetExceeded is
    raised, before any data is touched, when OpenDP's map of the whole exceeds the budget.
    """
    if split is None:
        return _cached_plan(settings)
    return _build_plan(settings, split)


@lru_cache(maxsize=8)
def _cached_plan(settings: ReleaseSettings) -> Plan:
    return _build_plan(settings, SPLIT)


# -- the release ------------------------------------------------------------------------------


def _whole(value: Any) -> int:
    """A noisy count as published: a whole number, never negative."""
    return max(0, round(float(value)))


def _keys(
    declared: Sequence[str], declared_counts: Any, other_counts: Any, k: int
) -> list[tuple[str, int]]:
    counts = dict(zip(declared, (_whole(v) for v in declared_counts or []), strict=False))
    counts.update({key: _whole(value) for key, value in (other_counts or {}).items()})
    kept = [(key, count) for key, count in counts.items() if count >= k]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return kept[:MAX_KEYS]


def measure(chosen: Plan, records: Sequence[Contribution]) -> dict[str, Any]:
    """Run the composed measurement once over the records: OpenDP's noisy outputs by name."""
    outputs = chosen.measurement([record.line() for record in records])
    return dict(zip(chosen.names, outputs, strict=True))


def publish(
    week: IsoWeek,
    outputs: dict[str, Any],
    settings: ReleaseSettings,
    *,
    spent: tuple[float, float],
    released_at: str,
) -> dict[str, Any]:
    """The release document from the noisy outputs (post-processing only: no privacy cost).

    Counts are whole and never negative; a week whose noisy identity count is below K
    publishes nulls and no keys; a key whose noisy identity count is below K is left out.
    """
    k = settings.k
    identities = _whole(outputs["identities"])
    published = identities >= k
    versions = _keys(
        sorted(set(settings.public_versions)),
        outputs.get("declared_versions"),
        outputs["other_versions"],
        k,
    )
    refs = _keys(
        sorted(set(settings.public_refs)), outputs.get("declared_refs"), outputs["other_refs"], k
    )
    return {
        "week": week.name,
        "released_at": released_at,
        "privacy": privacy_block(settings.epsilon, f"opendp {opendp_version()}"),
        "spent": {"epsilon": spent[0], "delta": spent[1]},
        "k": k,
        "identities": identities if published else None,
        "sessions": _whole(outputs["sessions"]) if published else None,
        "tool_count_median": int(outputs["tool_count_median"]) if published else None,
        "tokens_saved_median": int(outputs["tokens_saved_median"]) if published else None,
        "versions": [{"version": v, "identities": n} for v, n in versions] if published else [],
        "refs": [{"ref": r, "identities": n} for r, n in refs] if published else [],
    }


def release_week(
    week: IsoWeek,
    events: Iterable[StoredEvent],
    settings: ReleaseSettings,
    *,
    released_at: str,
    split: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The release document of one week: bounded, measured once by OpenDP, post-processed."""
    chosen = plan(settings, split)
    outputs = measure(chosen, contributions(events, week))
    return publish(week, outputs, settings, spent=chosen.spent, released_at=released_at)
