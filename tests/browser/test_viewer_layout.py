"""The viewer on real data and small screens, measured in Chromium: circles of sessions close
in time each stay visible and clickable, the strip is drawn whole, labels stay readable at
390 px, tables scroll inside their cards, and `/admin/` without a read token says what to do.

Screenshots of each state are written to the folder the run prints at its end.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, JOB_TOKEN, READ_TOKEN, Served

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
READABLE_PX = 10.0


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


ANCHOR = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0)
ANCHOR = ANCHOR.replace(microsecond=0)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def event(person: int, name: str, ended: datetime, tools: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "identity_hash": sha(f"layout-identity-{person}"),
        "session_id_hash": sha(f"layout-session-{person}-{name}"),
        "ended_at": stamp(ended),
        "tool_count": tools,
        "tokens_saved": 1000 * tools,
        "plugin_version": "1.4.0",
        "github_hash": sha(f"layout-github-{person}") if person % 2 else None,
        "branch_sha": f"{person:02x}9c2ab71e04",
        "discovery_refs": ["skill:grep", "doc:a-rather-long-reference-name"],
    }
    body.update(changes)
    return body


# Person 0's current session is its busiest (the largest circle, ringed, at the right edge);
# its earlier sessions bunch up: three that ended at the same instant, two a minute later,
# one a minute before the current one, one as old as the strip reaches (at the left edge).
CURRENT = event(0, "current", ANCHOR, 120)
EARLIER = [
    event(0, "same-a", ANCHOR - timedelta(days=2), 4),
    event(0, "same-b", ANCHOR - timedelta(days=2), 4),
    event(0, "same-c", ANCHOR - timedelta(days=2), 60),
    event(0, "next-a", ANCHOR - timedelta(days=2, minutes=-1), 4),
    event(0, "next-b", ANCHOR - timedelta(days=2, minutes=-1), 9),
    event(0, "just-before", ANCHOR - timedelta(minutes=1), 30),
    event(0, "oldest", ANCHOR - timedelta(days=30) + timedelta(minutes=1), 120),
]
OTHERS = [
    event(person, f"day-{back}", ANCHOR - timedelta(days=back, hours=person % 5), 3 + person)
    for person in range(1, 12)
    for back in (1, 3, 4)
]


@pytest.fixture(scope="module")
def loaded(served: Served) -> None:
    body = {"events": [CURRENT, *EARLIER, *OTHERS]}
    status, _, answer = served.request("POST", "/v1/session-events/batch", body=body)
    assert status == 200, answer
    status, _, answer = served.request("POST", "/v1/jobs/rollup", token=JOB_TOKEN)
    assert status == 200, answer


@pytest.fixture(scope="module")
def chromium(playwright_api: Any) -> Iterator[Any]:
    browser = playwright_api.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


def open_page(
    chromium: Any, url: str, viewport: dict[str, int], *, token: str | None = READ_TOKEN
) -> Any:
    credentials = {"username": "operator", "password": token} if token else None
    context = chromium.new_context(
        viewport=viewport, http_credentials=credentials, service_workers="block"
    )
    page = context.new_page()
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page


def shoot(page: Any, folder: Path, name: str) -> None:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000


def current_page_url(served: Served) -> str:
    detail = served.admin_json(f"/admin/sessions/{CURRENT['session_id_hash']}")
    identity = detail["session"]["identity"]
    return f"{served.url}/admin/identities/{identity}/sessions/{CURRENT['session_id_hash']}/view"


# -- the session strip ---------------------------------------------------------------------

CIRCLES = """() => Array.from(document.querySelectorAll('svg.strip a.related circle'), (c) => {
    const box = c.getBoundingClientRect();
    return {href: c.closest('a').getAttribute('href'), x: box.left + box.width / 2,
            y: box.top + box.height / 2, r: box.width / 2};
})"""

HIT = """([x, y]) => {
    const hit = document.elementFromPoint(x, y);
    const link = hit && hit.closest('a');
    return link ? link.getAttribute('href') : (hit ? hit.tagName : null);
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_earlier_session_is_a_circle_of_its_own_that_a_click_opens(
    chromium: Any, served: Served, loaded: None, screenshot_dir: Path, viewport: dict[str, int]
) -> None:
    detail = served.admin_json(f"/admin/sessions/{CURRENT['session_id_hash']}")
    page = open_page(chromium, current_page_url(served), viewport)
    shoot(page, screenshot_dir, f"strip-{viewport['width']}.png")
    circles = page.evaluate(CIRCLES)
    expected = {
        f"/admin/identities/{row['identity']}/sessions/{row['session_id_hash']}/view"
        for row in detail["related"]
    }
    assert len(detail["related"]) == len(EARLIER)
    assert sorted(circle["href"] for circle in circles) == sorted(expected)
    for one, other in itertools.combinations(circles, 2):
        apart = math.dist((one["x"], one["y"]), (other["x"], other["y"]))
        assert apart >= one["r"] + other["r"], (one, other)
    for circle in circles:
        page.locator(f'svg.strip a[href="{circle["href"]}"]').scroll_into_view_if_needed()
        [moved] = [c for c in page.evaluate(CIRCLES) if c["href"] == circle["href"]]
        hit = page.evaluate(HIT, [moved["x"], moved["y"]])
        assert hit == circle["href"], (moved, hit)
    # one of three sessions that ended at the same instant, clicked where its circle is drawn
    [target] = [href for href in expected if EARLIER[1]["session_id_hash"] in href]
    page.locator(f'svg.strip a[href="{target}"]').scroll_into_view_if_needed()
    [stacked] = [c for c in page.evaluate(CIRCLES) if c["href"] == target]
    with page.expect_navigation():
        page.mouse.click(stacked["x"], stacked["y"])
    assert urlsplit(page.url).path == stacked["href"]
    page.context.close()


def test_the_count_of_earlier_sessions_is_the_count_of_circles(
    chromium: Any, served: Served, loaded: None
) -> None:
    page = open_page(chromium, current_page_url(served), DESKTOP)
    note = page.locator("section[aria-labelledby=strip-h] .note").text_content() or ""
    said = re.match(r"(\d+) earlier sessions?", note)
    assert said, note
    assert int(said[1]) == page.locator("svg.strip a.related circle").count() == len(EARLIER)
    page.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_circle_and_no_ring_is_cut_at_the_edge_of_the_strip(
    chromium: Any, served: Served, loaded: None, viewport: dict[str, int]
) -> None:
    page = open_page(chromium, current_page_url(served), viewport)
    outside = page.evaluate(
        """() => {
        const svg = document.querySelector('svg.strip'), frame = svg.getBoundingClientRect();
        const scale = frame.width / svg.viewBox.baseVal.width;
        return Array.from(svg.querySelectorAll('circle'), (c) => {
            const half = (parseFloat(c.getAttribute('stroke-width') || '1') / 2) * scale;
            const box = c.getBoundingClientRect();
            return [box.left - half - frame.left, frame.right - box.right - half,
                    box.top - half - frame.top, frame.bottom - box.bottom - half];
        }).filter((gaps) => gaps.some((gap) => gap < 0));
    }"""
    )
    assert outside == []
    assert page.locator("svg.strip g.current circle").count() == 2  # the dot and its ring
    page.context.close()


# -- small screens -------------------------------------------------------------------------

LABELS = """() => Array.from(document.querySelectorAll('svg.chart'), (svg) => {
    const frame = svg.getBoundingClientRect();
    return {frame: [frame.left, frame.top, frame.right, frame.bottom],
            texts: Array.from(svg.querySelectorAll('text'), (t) => {
                const box = t.getBoundingClientRect();
                return {text: t.textContent,
                        px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a,
                        box: [box.left, box.top, box.right, box.bottom]};
            })};
})"""


def _overlap(one: list[float], other: list[float]) -> bool:
    return one[0] < other[2] and other[0] < one[2] and one[1] < other[3] and other[1] < one[3]


@pytest.mark.parametrize("which", ["dashboard", "session"])
def test_at_390_px_every_chart_label_is_readable_whole_and_apart(
    chromium: Any, served: Served, loaded: None, screenshot_dir: Path, which: str
) -> None:
    url = f"{served.url}/admin/?days=28" if which == "dashboard" else current_page_url(served)
    page = open_page(chromium, url, PHONE)
    shoot(page, screenshot_dir, f"{which}-390.png")
    charts = page.evaluate(LABELS)
    assert charts
    for chart in charts:
        texts = chart["texts"]
        assert texts
        for label in texts:
            assert label["px"] >= READABLE_PX, label
            left, top, right, bottom = chart["frame"]
            assert left <= label["box"][0] and label["box"][2] <= right, label
            assert top <= label["box"][1] and label["box"][3] <= bottom, label
        for one, other in itertools.combinations(texts, 2):
            assert not _overlap(one["box"], other["box"]), (one, other)
    page.context.close()


@pytest.mark.parametrize("which", ["dashboard", "session"])
def test_at_390_px_tables_scroll_inside_their_card(
    chromium: Any, served: Served, loaded: None, which: str
) -> None:
    url = f"{served.url}/admin/?days=28" if which == "dashboard" else current_page_url(served)
    page = open_page(chromium, url, PHONE)
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    found = page.evaluate(
        """() => ({
        page: [document.documentElement.scrollWidth, innerWidth],
        cards: Array.from(document.querySelectorAll('.card'),
                          (card) => [card.scrollWidth, card.clientWidth]),
        tables: Array.from(document.querySelectorAll('.card table'), (table) => {
            const card = table.closest('.card'), scroller = table.closest('.scroll');
            if (!scroller || !card.contains(scroller)) return {scrolls: false};
            scroller.scrollLeft = scroller.scrollWidth;
            const last = table.querySelector('tr > :last-child').getBoundingClientRect();
            const inner = card.getBoundingClientRect();
            return {scrolls: true, wide: table.scrollWidth > scroller.clientWidth,
                    lastSeen: last.right <= inner.right + 0.5 && last.left >= inner.left - 0.5};
        }),
    })"""
    )
    assert found["page"][0] <= found["page"][1]  # the page itself never scrolls sideways
    assert all(scroll <= client for scroll, client in found["cards"]), found["cards"]
    assert found["tables"]
    assert all(table["scrolls"] and table["lastSeen"] for table in found["tables"]), found
    assert any(table["wide"] for table in found["tables"])  # a table too wide for a phone
    page.context.close()


# -- /admin/ without a read token ----------------------------------------------------------


def test_admin_without_a_read_token_says_how_to_set_one(
    chromium: Any, served_without_read_token: Served, screenshot_dir: Path
) -> None:
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    answer = page.goto(f"{served_without_read_token.url}/admin/")
    assert answer is not None and answer.status == 503
    shoot(page, screenshot_dir, "admin-without-read-token.png")
    text = page.locator("main").inner_text()
    assert "SESSION_EVENTS_READ_TOKEN" in text
    assert "the token as the password" in text
    assert page.locator("script").count() == 0
    context.close()


def test_admin_without_the_token_sent_says_how_to_sign_in(
    chromium: Any, served: Served, screenshot_dir: Path
) -> None:
    """A browser asks for the token (Basic); the page behind the dialog says what to enter.

    Headless Chromium has no dialog to cancel, so the 401 page is fetched over HTTP and
    shown in Chromium as the browser shows it once the dialog is cancelled.
    """
    status, headers, body = served.request("GET", "/admin/")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="session-events"'
    assert headers["Content-Type"].startswith("text/html")
    context = chromium.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_content(body.decode())
    shoot(page, screenshot_dir, "admin-sign-in-390.png")
    text = page.locator("main").inner_text()
    assert "SESSION_EVENTS_READ_TOKEN" in text
    assert "any user name and the token as the password" in text
    assert READ_TOKEN not in body.decode()
    context.close()
