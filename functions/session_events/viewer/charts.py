"""The viewer's figures as data: every position and size of the SVG charts, computed here.

The templates (templates/charts.html) only draw what these describe: the daily chart, the
30-day session strip, the small bars of the tables and the refs' seen-spans. Figures are
readable without colour: a day without a session is marked 0, a day not computed yet is an
outline with its own legend entry, the current session is ringed and labelled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from session_events.viewer.text import (
    count,
    instant,
    num,
    parse_day,
    session_href,
    short_day,
    when,
)

Row = Mapping[str, Any]

STRIP_DAYS = 30
REF_LANE_DAYS = 28


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


# -- small figures of the tables -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MiniBar:
    """A small horizontal bar for a table cell: 80 px stand for the column's largest value."""

    width: float
    label: str


def mini_bar(value: object, largest: float, label: str) -> MiniBar:
    width = 0.0 if largest <= 0 else 80.0 * count(value) / largest
    return MiniBar(round(width, 1), label)


@dataclass(frozen=True, slots=True)
class SeenSpan:
    """A ref's first and last day seen, as a span on a 28-day lane (None: not drawable)."""

    text: str
    x: float | None = None
    width: float | None = None


def seen_span(first_seen: object, last_seen: object, end: datetime | None) -> SeenSpan:
    seen = f"{first_seen if first_seen is not None else ''} → "
    seen += f"{last_seen if last_seen is not None else ''}"
    first, last = parse_day(first_seen), parse_day(last_seen)
    if first is None or last is None or end is None:
        return SeenSpan(seen)
    start = end - timedelta(days=REF_LANE_DAYS - 1)

    def x(day: datetime) -> float:
        return 2 + 3 * min(max((day - start).days, 0), REF_LANE_DAYS - 1)

    return SeenSpan(seen, x(first), x(last) - x(first) + 3)


# -- the daily chart -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gridline:
    y: float
    label: str
    baseline: bool


@dataclass(frozen=True, slots=True)
class DayColumn:
    """One day: two bars (identities, sessions), or a dashed outline when not computed yet."""

    day: str
    title: str
    identities: Rect | None = None
    sessions: Rect | None = None
    pending: Rect | None = None  # the outline of a day no rollup run has computed
    mark: Label | None = None  # "0" on a computed day without a session

    @property
    def computed(self) -> bool:
        return self.pending is None


@dataclass(frozen=True, slots=True)
class DailyChart:
    width: float
    height: float
    left: float
    right: float  # x of the plot's right edge
    description: str
    gridlines: list[Gridline]
    columns: list[DayColumn]
    day_labels: list[Label]


def is_computed(row: Row) -> bool:
    """A daily row is computed unless it says otherwise (`computed` false)."""
    return row.get("computed") is not False


def _nice_step(largest: float, ticks: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) that covers `largest` in ~`ticks`."""
    if largest <= 0:
        return 1.0
    raw = largest / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return max(1.0, factor * power)
    return max(1.0, 10.0 * power)


def compact(value: float) -> str:
    """An axis number in at most four characters or so: 800, 1.5k, 20k, 1.2M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"


def daily_chart(daily: Sequence[Row]) -> DailyChart:
    """Grouped bars of identities and sessions per day, exact: 0 is drawn as 0, and a day no
    rollup run has computed yet as a dashed outline (never as a zero, never hatched)."""
    rows = sorted(daily, key=lambda row: str(row.get("day", "")))
    width, height = 960, 260
    left, right, top, bottom = 52, 24, 18, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = max(
        [1.0]
        + [count(row.get("identities")) for row in rows]
        + [count(row.get("sessions")) for row in rows]
    )
    step = _nice_step(largest)
    ceiling = step * math.ceil(largest / step)

    def y(value: float) -> float:
        return round(top + plot_h - plot_h * value / ceiling, 1)

    gridlines = []
    tick = 0.0
    while tick <= ceiling + 1e-9:
        gridlines.append(Gridline(y(tick), compact(tick), tick == 0))
        tick += step
    slot = plot_w / max(len(rows), 1)
    label_every = max(1, math.ceil(len(rows) / 10))
    columns, labels = [], []
    for index, row in enumerate(rows):
        x0 = left + index * slot
        bar = max(1.0, slot * 0.36)
        gap = (slot - 2 * bar) / 2
        middle = round(x0 + slot / 2, 1)
        day = str(row.get("day", ""))
        if not is_computed(row):
            columns.append(
                DayColumn(
                    day,
                    f"{day}: not computed yet (no rollup run has covered this day)",
                    pending=Rect(round(x0 + gap, 1), top, round(2 * bar, 1), plot_h),
                )
            )
        else:
            identities, sessions = row.get("identities"), row.get("sessions")
            ident_v, sess_v = count(identities), count(sessions)
            columns.append(
                DayColumn(
                    day,
                    f"{day}: {num(identities)} identities, {num(sessions)} sessions",
                    identities=Rect(
                        round(x0 + gap, 1), y(ident_v), round(bar, 1), round(y(0) - y(ident_v), 1)
                    ),
                    sessions=Rect(
                        round(x0 + gap + bar, 1),
                        y(sess_v),
                        round(bar, 1),
                        round(y(0) - y(sess_v), 1),
                    ),
                    # marked where a "0" fits beside its neighbours' (the table says it always)
                    mark=Label(middle, y(0) - 4, "0")
                    if ident_v == sess_v == 0 and slot >= 12
                    else None,
                )
            )
        if (len(rows) - 1 - index) % label_every == 0:  # counted back from the latest day
            parsed = parse_day(row.get("day"))
            labels.append(Label(middle, height - bottom + 16, short_day(parsed) if parsed else day))
    pending = sum(1 for column in columns if not column.computed)
    return DailyChart(
        width=width,
        height=height,
        left=left,
        right=width - right,
        description=(
            f"{len(rows)} days. Dark bars: identities; light bars: sessions; a day without "
            f"a session is marked 0; dashed outline: not computed yet ({pending} days)."
        ),
        gridlines=gridlines,
        columns=columns,
        day_labels=labels,
    )


# -- the session strip ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    length: float
    stamp: Label | None = None  # major ticks: the day
    label: Label | None = None  # and how far back it is


@dataclass(frozen=True, slots=True)
class Circle:
    cx: float
    cy: float
    r: float
    tool_count: str
    title: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class CurrentMark:
    """The current session: its circle, a dashed ring around it and a labelled leader."""

    circle: Circle
    ring_r: float
    leader_top: float
    leader_bottom: float
    label: Label


@dataclass(frozen=True, slots=True)
class SessionStrip:
    width: float
    height: float
    left: float
    right: float
    axis_y: float
    description: str
    ticks: list[Tick]
    circles: list[Circle]  # every earlier session with a usable time: none overlaps another
    not_drawn: int  # earlier sessions without a usable end time (listed, not drawn)
    current: CurrentMark
    largest: str


def radius(tool_count: object, largest: float) -> float:
    """A circle's radius for a tool count: area proportional to the count, 4 to 22 px."""
    if largest <= 0:
        return 4.0
    return 4.0 + 18.0 * math.sqrt(min(count(tool_count), largest) / largest)


def _tip(row: Row) -> str:
    return (
        f"{when(row.get('ended_at'))}: {num(row.get('tool_count'))} tools, "
        f"{num(row.get('tokens_saved'))} tokens saved"
    )


# The strip's layout: circles keep their time (x) and move up or down off the axis line, in
# steps of SWARM_STEP, to the nearest place where they overlap nothing (a beeswarm), so each
# stays visible and clickable however close in time two sessions ended.
MARGIN_X = 34  # the largest circle (22) with its ring (+5) and stroke fit at either end
SWARM_GAP = 2.0
SWARM_STEP = 3.0
SWARM_TRIES = 800
LABEL_BOX = (114.0, 16.0)  # room for "This session" (width left of its anchor, height)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _fits(
    x: float, y: float, r: float, placed: list[tuple[float, float, float]], boxes: list[Box]
) -> bool:
    for px, py, pr in placed:
        reach = r + pr + SWARM_GAP
        if abs(x - px) < reach and (x - px) ** 2 + (y - py) ** 2 < reach**2:
            return False
    for x0, y0, x1, y1 in boxes:
        nx, ny = min(max(x, x0), x1), min(max(y, y0), y1)
        if (x - nx) ** 2 + (y - ny) ** 2 < (r + SWARM_GAP) ** 2:
            return False
    return True


def _swarm(
    wanted: list[tuple[float, float]], placed: list[tuple[float, float, float]], boxes: list[Box]
) -> list[float]:
    """A y (around 0) for each (x, r) in `wanted`, placed in order, clear of what is placed."""
    found = []
    for x, r in wanted:
        for attempt in range(SWARM_TRIES):
            offset = SWARM_STEP * ((attempt + 1) // 2) * (-1 if attempt % 2 else 1)
            if _fits(x, offset, r, placed, boxes):
                break
        placed.append((x, offset, r))
        found.append(offset)
    return found


def session_strip(session: Row, related: Sequence[Row]) -> SessionStrip | None:
    """The identity's sessions over the 30 days up to this one, sized by tool count.

    None when the session has no usable end time to draw it against.
    """
    end = instant(session.get("ended_at"))
    if end is None:
        return None
    width = 960
    left, right = MARGIN_X, MARGIN_X
    plot_w = width - left - right
    start = end - timedelta(days=STRIP_DAYS)

    def x(moment: datetime) -> float:
        share = (moment - start) / (end - start)
        return round(left + plot_w * min(max(share, 0.0), 1.0), 1)

    everyone = [session, *related]
    largest = max(count(row.get("tool_count")) for row in everyone)
    earlier = [
        (row, moment)
        for row in related
        if row.get("session_id_hash") != session.get("session_id_hash")
        for moment in [instant(row.get("ended_at"))]
        if moment is not None
    ]
    # This session first, on the line, its ring and label kept clear; then the larger
    # earlier sessions first, so the small ones are the ones that move.
    size = radius(session.get("tool_count"), largest)
    cx, ring = x(end), size + 5
    label_box = (cx - LABEL_BOX[0], -ring - 10 - LABEL_BOX[1], cx + 8, -ring)
    order = sorted(earlier, key=lambda pair: (-radius(pair[0].get("tool_count"), largest), pair[1]))
    wanted = [(x(moment), radius(row.get("tool_count"), largest)) for row, moment in order]
    ys = _swarm(wanted, [(cx, 0.0, ring + 1)], [label_box])
    top = min([label_box[1], *(y - r for (_x, r), y in zip(wanted, ys, strict=True))])
    bottom = max([ring + 1, *(y + r for (_x, r), y in zip(wanted, ys, strict=True))])
    shift = 6 - top  # every y moves down so the highest element starts 6 units from the top
    axis_y = round(bottom + shift + 12, 1)
    circles = [
        Circle(
            cx=cxr[0],
            cy=round(y + shift, 1),
            r=round(cxr[1], 2),
            tool_count=num(row.get("tool_count")),
            title=_tip(row),
            href=session_href(row.get("identity", ""), row.get("session_id_hash", "")),
        )
        for (row, _moment), cxr, y in zip(order, wanted, ys, strict=True)
    ]
    cy = round(shift, 1)
    current = CurrentMark(
        circle=Circle(
            cx, cy, round(size, 2), num(session.get("tool_count")), f"This session, {_tip(session)}"
        ),
        ring_r=round(ring, 2),
        leader_top=round(cy - ring - 6, 1),
        leader_bottom=round(cy - ring, 1),
        label=Label(round(cx + 6, 1), round(cy - ring - 10, 1), "This session", "end"),
    )
    ticks = []
    for back in range(STRIP_DAYS + 1):
        tick_x = x(end - timedelta(days=back))
        if back % 5:
            ticks.append(Tick(tick_x, 4))
            continue
        anchor = "end" if back == 0 else ("start" if back == STRIP_DAYS else "middle")
        ticks.append(
            Tick(
                tick_x,
                8,
                stamp=Label(tick_x, axis_y + 22, short_day(end - timedelta(days=back)), anchor),
                label=Label(
                    tick_x,
                    axis_y + 44,
                    "this session" if back == 0 else f"\N{MINUS SIGN}{back} d",
                    anchor,
                ),
            )
        )
    not_drawn = len(related) - len(earlier)
    return SessionStrip(
        width=width,
        height=axis_y + 52,
        left=left,
        right=width - right,
        axis_y=axis_y,
        description=(
            f"{len(circles)} earlier sessions and this one on a time axis; circle area grows "
            "with tool count; sessions close in time are moved up or down so none hides "
            "another; this session is ringed and labelled."
        ),
        ticks=ticks,
        circles=circles,
        not_drawn=not_drawn,
        current=current,
        largest=num(int(largest)),
    )
