"""The viewer in a real browser: Debian's Chromium, headless, against the function on loopback.

Events go in through the ingest endpoint, the rollup job runs over HTTP, then the browser
opens `/admin/` with the read token (HTTP Basic) and every figure it shows is compared with
the operator's JSON API.
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    JOB_TOKEN,
    READ_TOKEN,
    Browser,
    K,
    Opened,
    Served,
)

from session_events.viewer.pages import render_dashboard, render_session

# -- the events ----------------------------------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def days_ago(days: int, hour: int, minute: int = 0) -> str:
    day = datetime.now(UTC).date() - timedelta(days=days)
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def make_event(
    person: int, session: str, ended_at: str, tools: int, **changes: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "identity_hash": sha(f"identity-{person}"),
        "session_id_hash": sha(f"session-{person}-{session}"),
        "ended_at": ended_at,
        "tool_count": tools,
        "tokens_saved": 1000 * tools + person,
        "plugin_version": "1.4.0",
        "github_hash": sha(f"github-{person}") if person % 2 == 0 else None,
        "branch_sha": f"{person:02x}9c2ab71e04",
        "discovery_refs": ["skill:grep"],
    }
    event.update(changes)
    return event


def events() -> list[dict[str, Any]]:
    """Yesterday 8 people, two days ago 2 (fewer than K), three days ago exactly K.

    Person 0 also has sessions earlier in the window, so its strip has several circles; two
    people run an old version (below K: suppressed) and one uses a ref nobody else uses.
    """
    made = []
    for person in range(8):
        made.append(make_event(person, "y", days_ago(1, 9, person), tools=5 + 7 * person))
    for person in range(2):
        made.append(make_event(person, "s", days_ago(2, 14, person), tools=3))
    for person in range(K):
        version = "1.3.9" if person < 2 else "1.4.0"
        refs = ["skill:grep", "doc:only-one"] if person == 3 else ["skill:grep", "cmd:deploy"]
        made.append(
            make_event(
                person,
                "k",
                days_ago(3, 11, person),
                20 + person,
                plugin_version=version,
                discovery_refs=refs,
            )
        )
    for offset, tools in ((4, 80), (6, 2), (6, 40)):
        made.append(make_event(0, f"e{offset}-{tools}", days_ago(offset, 16, tools % 60), tools))
    return made


@pytest.fixture(scope="module")
def loaded(served: Served) -> dict[str, Any]:
    """The events stored through the ingest endpoint and the rollup job run once over HTTP."""
    batch = events()
    status, _, body = served.request("POST", "/v1/session-events/batch", body={"events": batch})
    assert status == 200, body
    status, _, body = served.request("POST", "/v1/jobs/rollup", token=JOB_TOKEN)
    assert status == 200, body
    return {"events": batch}


# -- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(playwright_api: Any, served: Served, loaded: dict[str, Any]) -> Iterator[Browser]:
    """Chromium with a fresh profile, the read token as Basic credentials, every request seen."""
    with tempfile.TemporaryDirectory(prefix="viewer-profile-") as profile:
        context = playwright_api.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            http_credentials={"username": "operator", "password": READ_TOKEN},
            viewport={"width": 1280, "height": 900},
            service_workers="block",
        )
        try:
            yield Browser(context=context, origin=served.url)
        finally:
            context.close()


def number(text: str) -> int | None:
    cleaned = text.strip().replace(",", "")
    return None if cleaned in ("—", "") else int(cleaned)


def pair(text: str) -> tuple[float, float]:
    """A cell shown as `p50 / p90`."""
    low, high = text.replace(",", "").split(" / ")
    return float(low), float(high)


def shoot(page: Any, folder: Path, name: str) -> Path:
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


# -- the dashboard -------------------------------------------------------------------------


def test_dashboard_loads_with_no_console_error_and_no_outside_request(
    browser: Browser, screenshot_dir: Path
) -> None:
    opened = browser.open("/admin/")
    page = opened.page
    shoot(page, screenshot_dir, "dashboard.png")
    assert page.title() == "Dashboard · session-events"
    assert opened.errors == []
    assert opened.left_the_server() == []
    assert opened.requests[0] == browser.origin + "/admin/"
    page.close()


def test_dashboard_answer_carries_the_strict_headers(
    served: Served, loaded: dict[str, Any]
) -> None:
    status, headers, _ = served.request("GET", "/admin/", token=READ_TOKEN)
    assert status == 200
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert "no-store" in headers["Cache-Control"]


def test_daily_figures_match_the_rollups_api(browser: Browser, served: Served) -> None:
    expected = {
        row["day"]: (row["identities"], row["sessions"], not row["computed"])
        for row in served.admin_json("/admin/rollups?kind=daily&days=28")["rows"]
    }
    opened = browser.open("/admin/?days=28")
    page = opened.page
    shown = {}
    for row in page.locator("table.daily tr[data-day]").all():
        cells = row.locator("td")
        shown[row.get_attribute("data-day")] = (
            number(cells.nth(1).text_content() or ""),
            number(cells.nth(2).text_content() or ""),
            "not computed" in (cells.nth(3).text_content() or ""),
        )
    page.close()
    assert shown == expected
    assert {value[2] for value in shown.values()} == {True, False}


def test_daily_chart_draws_exact_numbers_and_days_not_computed(
    browser: Browser, served: Served, screenshot_dir: Path
) -> None:
    """The operator's chart is exact: bars in proportion to the numbers, a day below K as it
    is, 0 marked as 0, a day no run has computed as an outline, and nothing hatched."""
    rows = served.admin_json("/admin/rollups?kind=daily&days=28")["rows"]
    opened = browser.open("/admin/?days=28")
    page = opened.page
    assert page.locator("svg.chart pattern, svg.chart [fill^='url(']").count() == 0
    assert page.locator("svg g.day.suppressed").count() == 0
    drawn: dict[str, float] = {}
    for row in rows:
        group = page.locator(f'svg g.day[data-day="{row["day"]}"]')
        if not row["computed"]:
            assert "not-computed" in (group.get_attribute("class") or "")
            assert group.locator("rect.pending").bounding_box()["height"] > 0
            continue
        sessions = group.locator("rect.sessions").bounding_box()["height"]
        drawn[row["day"]] = sessions
        if row["sessions"] == 0:
            assert group.locator("rect.identities").bounding_box()["height"] == sessions == 0
            assert (group.locator("text.zero").text_content() or "") == "0"
    numbers = {row["day"]: row["sessions"] for row in rows if row["computed"]}
    largest = max(numbers, key=lambda day: numbers[day])
    for day, height in drawn.items():
        expected = drawn[largest] * numbers[day] / numbers[largest]
        assert abs(height - expected) <= 1.0, (day, height, expected)
    assert any(0 < count < K for count in numbers.values()), "a day below K is drawn too"
    assert 0 in numbers.values(), "a computed day without a session is drawn too"
    page.locator("svg.chart").first.screenshot(path=str(screenshot_dir / "daily-chart.png"))
    page.close()


def test_versions_match_the_rollups_api(browser: Browser, served: Served) -> None:
    rows = served.admin_json("/admin/rollups?kind=versions&window=28d")["rows"]
    expected = {
        row["version"]: None
        if row["suppressed"]
        else (
            row["identities"],
            row["sessions"],
            (row["tool_count"]["p50"], row["tool_count"]["p90"]),
            (row["tokens_saved"]["p50"], row["tokens_saved"]["p90"]),
        )
        for row in rows
    }
    opened = browser.open("/admin/")
    page = opened.page
    shown = {}
    for row in page.locator("table.versions tbody tr").all():
        version = (row.locator("td").first.text_content() or "").strip()
        if "suppressed" in (row.get_attribute("class") or ""):
            shown[version] = None
        else:
            shown[version] = (
                number(row.locator("td.identities").text_content() or ""),
                number(row.locator("td.sessions").text_content() or ""),
                pair(row.locator("td.tools").text_content() or ""),
                pair(row.locator("td.tokens").text_content() or ""),
            )
    page.close()
    assert shown == expected
    assert any(value is not None for value in shown.values())


def test_refs_match_the_rollups_api_and_have_anchors(browser: Browser, served: Served) -> None:
    rows = served.admin_json("/admin/rollups?kind=refs")["rows"]
    expected = {row["ref"]: (row["identities"], row["sessions"]) for row in rows}
    opened = browser.open("/admin/")
    page = opened.page
    shown = {}
    for row in page.locator("table.refs tbody tr").all():
        ref = row.get_attribute("id")
        assert ref is not None and ref.startswith("ref-")
        shown[ref.removeprefix("ref-")] = (
            number(row.locator("td.identities").text_content() or ""),
            number(row.locator("td.sessions").text_content() or ""),
        )
    page.close()
    assert shown == expected
    assert "doc:only-one" not in shown


@pytest.mark.parametrize(
    ("link", "query"),
    [("All", ""), ("Logged in", "&logged_in=true"), ("Anonymous", "&logged_in=false")],
)
def test_session_list_matches_the_sessions_api(
    browser: Browser, served: Served, link: str, query: str
) -> None:
    api = served.admin_json(f"/admin/sessions?days=7{query}")
    opened = browser.open("/admin/?days=30")
    page = opened.page
    page.get_by_role("navigation", name="Show").get_by_role("link", name=link).click()
    page.wait_for_load_state()
    page.get_by_role("navigation", name="Window").get_by_role("link", name="7 d").click()
    page.wait_for_load_state()
    rows = page.locator("table.sessions tr[data-session]").all()
    shown = [
        (
            row.get_attribute("data-session"),
            number(row.locator("td.tools").text_content() or ""),
            number(row.locator("td.tokens").text_content() or ""),
            (row.locator("td.identity").text_content() or "").strip(),
        )
        for row in rows
    ]
    expected = [
        (s["session_id_hash"], s["tool_count"], s["tokens_saved"], s["identity"])
        for s in api["sessions"]
    ]
    current = page.get_by_role("navigation", name="Show").locator("a[aria-current]")
    assert (current.text_content() or "").strip() == link
    page.close()
    assert shown == expected
    assert shown


def test_session_total_matches_the_sessions_api(browser: Browser, served: Served) -> None:
    api = served.admin_json("/admin/sessions?days=28&logged_in=false")
    opened = browser.open("/admin/?days=28&logged_in=false")
    card = opened.page.locator(".stat").filter(has_text="Sessions").first
    shown = number(card.locator(".value").text_content() or "")
    opened.page.close()
    assert shown == api["total_count_in_window"] > 0


def test_session_page_shows_its_strip_with_the_current_one_marked(
    browser: Browser, served: Served, loaded: dict[str, Any], screenshot_dir: Path
) -> None:
    newest_of_person_0 = sha("session-0-y")
    api = served.admin_json(f"/admin/sessions/{newest_of_person_0}")
    identity = api["session"]["identity"]
    opened = browser.open("/admin/?days=30")
    page = opened.page
    page.locator(f'tr[data-session="{newest_of_person_0}"] a').first.click()
    page.wait_for_load_state()
    path = f"/admin/identities/{identity}/sessions/{newest_of_person_0}/view"
    assert urlsplit(page.url).path == path
    strip = page.locator("svg.strip")
    assert strip.is_visible()
    current = strip.locator("g.current")
    assert current.count() == 1
    assert "This session" in (current.text_content() or "")
    related = strip.locator("a.related")
    assert related.count() == len(api["related"]) >= 3
    hrefs = sorted(link.get_attribute("href") for link in related.all())
    assert hrefs == sorted(
        f"/admin/identities/{identity}/sessions/{r['session_id_hash']}/view" for r in api["related"]
    )
    shoot(page, screenshot_dir, "session.png")
    assert opened.errors == []
    assert opened.left_the_server() == []
    page.close()


def test_strip_circles_grow_with_tool_count_as_drawn(browser: Browser) -> None:
    opened = browser.open(f"/admin/sessions/{sha('session-0-y')}/view")
    page = opened.page
    sizes = []
    for circle in page.locator("svg.strip circle[data-tool-count]").all():
        box = circle.bounding_box()
        sizes.append((number(circle.get_attribute("data-tool-count") or ""), box["width"]))
    page.close()
    sizes.sort()
    assert len(sizes) >= 4
    assert all(a[1] < b[1] for a, b in itertools.pairwise(sizes) if a[0] < b[0])


def test_related_circle_opens_that_session(browser: Browser, served: Served) -> None:
    opened = browser.open(f"/admin/sessions/{sha('session-0-y')}/view")
    page = opened.page
    link = page.locator("svg.strip a.related").first
    target = link.get_attribute("href")
    link.click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == target
    assert page.locator("svg.strip g.current").count() == 1
    page.close()


def test_session_ref_leads_to_its_row_on_the_dashboard(browser: Browser) -> None:
    opened = browser.open(f"/admin/sessions/{sha('session-0-y')}/view")
    page = opened.page
    page.locator('dl.fields a[href="/admin/#ref-skill:grep"]').first.click()
    page.wait_for_load_state()
    assert urlsplit(page.url).fragment == "ref-skill:grep"
    row = page.locator("tr:target")
    assert row.get_attribute("id") == "ref-skill:grep"
    assert row.is_visible()
    page.close()


def test_next_page_link_continues_where_the_first_page_stopped(
    browser: Browser, served: Served
) -> None:
    everything = served.admin_json("/admin/sessions?days=28&limit=200")["sessions"]
    opened = browser.open("/admin/?days=28&limit=5")
    page = opened.page
    first = [row.get_attribute("data-session") for row in page.locator("tr[data-session]").all()]
    page.locator('a[rel="next"]').click()
    page.wait_for_load_state()
    rest = [row.get_attribute("data-session") for row in page.locator("tr[data-session]").all()]
    assert opened.errors == []
    page.close()
    assert len(first) == 5
    assert first + rest == [row["session_id_hash"] for row in everything]


HOSTILE = '"><img src=/x onerror=alert(1)><script>alert(2)</script>'


def test_hostile_values_render_as_inert_text(browser: Browser) -> None:
    row = {
        "session_id_hash": HOSTILE,
        "identity": HOSTILE,
        "github": HOSTILE,
        "ended_at": HOSTILE,
        "tool_count": 3,
        "tokens_saved": 4,
        "branch_sha": HOSTILE,
        "discovery_refs": [HOSTILE],
    }
    pages = {
        "dashboard": render_dashboard(
            k=K,
            daily=[{"day": HOSTILE, "identities": 9, "sessions": 9, "computed": True}],
            versions=[],
            refs=[{"ref": HOSTILE, "identities": 9, "sessions": 9}],
            sessions=[row],
            total_count_in_window=1,
            logged_in=None,
            days=7,
            next_cursor=HOSTILE,
        ),
        "session": render_session(
            session={**row, "ended_at": "2026-11-20T10:00:00Z"}, related=[row]
        ),
    }
    for name, html in pages.items():
        opened = Opened(page=browser.context.new_page(), origin=browser.origin)
        opened.watch()
        dialogs: list[str] = []

        def on_dialog(dialog: Any, seen: list[str] = dialogs) -> None:
            seen.append(dialog.message)
            dialog.dismiss()

        opened.page.on("dialog", on_dialog)
        opened.page.set_content(html)
        opened.page.wait_for_load_state("networkidle")
        shown = opened.page.locator("td.identity, dl.fields .mono").first.text_content()
        assert dialogs == [], name
        assert opened.requests == [], name
        assert opened.page.locator("img, script").count() == 0, name
        assert shown == HOSTILE, name
        opened.page.close()
