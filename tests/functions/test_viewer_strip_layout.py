"""The session strip's layout as data: however the sessions bunch up in time, no circle
overlaps another or the current session's ring and label, every circle lies inside the
figure, and the page counts exactly the circles it draws."""

from __future__ import annotations

import itertools
import math
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_events.viewer.charts import session_strip
from session_events.viewer.pages import render_session

END = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def row(n: int, ended: datetime | str, tools: int) -> dict[str, Any]:
    return {
        "session_id_hash": f"{n:064x}",
        "identity": "u-gggg-hhhh-jjjj-kkkk",
        "github": None,
        "ended_at": ended if isinstance(ended, str) else ended.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "tool_count": tools,
        "tokens_saved": 1,
        "branch_sha": None,
        "discovery_refs": [],
    }


def bunched(seed: int) -> list[dict[str, Any]]:
    """Up to 50 earlier sessions, most of them in a few tight clusters, some at one instant."""
    rng = random.Random(seed)
    centres = [END - timedelta(minutes=rng.randrange(0, 30 * 24 * 60)) for _ in range(3)]
    centres.append(END - timedelta(minutes=1))  # right beside the current session
    rows = []
    for n in range(rng.randrange(1, 51)):
        moment = rng.choice(centres) - timedelta(minutes=rng.choice([0, 0, 1, 5, 60]))
        moment = max(moment, END - timedelta(days=30))
        rows.append(row(100 + n, moment, rng.choice([0, 1, 3, 10, 50, 400])))
    return rows


@pytest.mark.parametrize("seed", range(40))
def test_no_circle_overlaps_another_or_leaves_the_figure(seed: int) -> None:
    related = bunched(seed)
    strip = session_strip(row(1, END, random.Random(seed).choice([1, 400])), related)
    assert strip is not None
    current = strip.current
    shapes = [(c.cx, c.cy, c.r) for c in strip.circles]
    shapes.append((current.circle.cx, current.circle.cy, current.ring_r + 1))  # ring + stroke
    assert len(strip.circles) == len(related)
    for (x1, y1, r1), (x2, y2, r2) in itertools.combinations(shapes, 2):
        assert math.dist((x1, y1), (x2, y2)) >= r1 + r2 - 0.2, ((x1, y1, r1), (x2, y2, r2))
    for x, y, r in shapes:
        assert r + 1 <= x <= strip.width - r - 1
        assert r <= y <= strip.axis_y - r
    label_top = current.label.y - 16
    for c in strip.circles:  # the label "This session" and its leader stay clear
        if current.label.x - 114 < c.cx < current.label.x + 2:
            assert c.cy - c.r >= current.leader_bottom or c.cy + c.r <= label_top


def test_sessions_at_the_same_instant_are_each_drawn() -> None:
    same = END - timedelta(days=3)
    page = render_session(session=row(1, END, 5), related=[row(2, same, 5), row(3, same, 5)])
    assert re.search(r"2 earlier sessions in the 30 days", page)
    circles = re.findall(
        r'<a class="related" href="[^"]+"><title>[^<]*</title><circle cx="([^"]+)" cy="([^"]+)"',
        page,
    )
    assert len(circles) == 2
    assert circles[0] != circles[1]


def test_a_session_without_a_usable_time_is_counted_apart_not_as_a_circle() -> None:
    related = [row(2, END - timedelta(days=1), 5), row(3, "not a time", 5)]
    page = render_session(session=row(1, END, 5), related=related)
    assert (
        "1 earlier session in the 30 days before this one, and 1 without a usable end time" in page
    )
    assert page.count('<a class="related"') == 1
