"""The public statistics page in a real browser: Debian's Chromium, headless, against the
function on loopback with public statistics on.

Events go in through the ingest endpoint, the rollup job releases the due weeks over HTTP,
then the browser opens `/stats/` without any credentials and every figure it shows is
compared with the public JSON answers (the same releases).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, JOB_TOKEN, REPO, Browser, Served
from loopback import clean_env, free_port, start_function, stop, wait_healthy

from session_events.rollups.weeks import IsoWeek, due_weeks

WEEK = due_weeks(datetime.now(UTC), 3)[-1]
VERSIONS = ("1.4.0", "1.5.0")
REFS = ("skill:grep", "doc:intro")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def events(week: IsoWeek) -> list[dict[str, Any]]:
    """150 installs over the week, two declared versions, two declared refs, and one
    undeclared ref that a single install used (it must never be shown)."""
    made = []
    for person in range(150):
        for n in range(1 + person % 3):
            ended = week.start + timedelta(days=person % 7, hours=8 + n, minutes=person % 60)
            made.append(
                {
                    "identity_hash": sha(f"identity-{person}"),
                    "session_id_hash": sha(f"session-{person}-{n}"),
                    "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "tool_count": 4 + person % 30,
                    "tokens_saved": 800 * (1 + person % 20),
                    "plugin_version": VERSIONS[person % 2],
                    "discovery_refs": [REFS[person % 2]]
                    + (["secret:only-one-person"] if person == 7 else []),
                }
            )
    return made


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("public-page")
    port = free_port()
    env = clean_env(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(folder / "events.db"),
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
        SESSION_EVENTS_PUBLIC_STATS="on",
        SESSION_EVENTS_PUBLISH_K="5",
        SESSION_EVENTS_PUBLIC_VERSIONS=",".join(VERSIONS),
        SESSION_EVENTS_PUBLIC_REFS=",".join(REFS),
        PYTHONPATH=str(REPO / "functions"),
        PYTHONUNBUFFERED="1",
    )
    log = folder / "function.log"
    proc = start_function(port, env, log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        made = Served(url=f"http://127.0.0.1:{port}", proc=proc, log=log)
        batch = events(WEEK)
        for start in range(0, len(batch), 100):
            status, _, body = made.request(
                "POST", "/v1/session-events/batch", body={"events": batch[start : start + 100]}
            )
            assert status == 200, body
        status, _, body = made.request("POST", "/v1/jobs/rollup", token=JOB_TOKEN)
        assert status == 200, body
        yield made
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser(playwright_api: Any, served: Served) -> Iterator[Browser]:
    """Chromium with a fresh profile and no credentials at all: the page is public."""
    with tempfile.TemporaryDirectory(prefix="public-page-profile-") as profile:
        context = playwright_api.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            service_workers="block",
        )
        try:
            yield Browser(context=context, origin=served.url)
        finally:
            context.close()


def public_json(served: Served, path: str) -> dict[str, Any]:
    import json

    status, headers, body = served.request("GET", path)
    assert status == 200, (path, status)
    assert headers["Cache-Control"] == "public, max-age=300"
    return dict(json.loads(body))


def cells(row: Any) -> list[str]:
    return [text.strip() for text in row.locator("td").all_inner_texts()]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_page_loads_public_with_no_script_no_error_and_no_outside_request(
    browser: Browser, screenshot_dir: Path
) -> None:
    opened = browser.open("/stats/")
    page = opened.page
    page.screenshot(path=str(screenshot_dir / "public-stats.png"), full_page=True)
    assert page.title() == f"Public statistics · {WEEK.name}"
    assert page.locator("script").count() == 0
    assert opened.errors == []
    assert opened.left_the_server() == []
    protects = page.locator("#protects").inner_text()
    assert "OpenDP" in protects and "ε = 1.0" in protects
    page.close()


def test_the_page_carries_the_viewers_strict_headers(served: Served) -> None:
    status, headers, body = served.request("GET", "/stats/")
    assert status == 200
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "script-src" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "public, max-age=300"
    assert b"<script" not in body


def test_every_week_shown_is_its_release_and_unreleased_weeks_say_so(
    browser: Browser, served: Served
) -> None:
    released = {row["week"]: row for row in public_json(served, "/v1/stats/weeks?count=52")["rows"]}
    page = browser.open("/stats/").page
    rows = page.locator("#weeks tbody tr")
    shown = {}
    for index in range(rows.count()):
        row = rows.nth(index)
        shown[row.get_attribute("data-week")] = (row.get_attribute("data-state"), cells(row))
    current = IsoWeek.of(datetime.now(UTC).date()).name
    assert shown[current][0] == "pending"
    assert "not released yet" in shown[current][1][1]
    for week, (state, texts) in shown.items():
        if state == "pending":
            assert week not in released
            continue
        row = released[week]
        if row["identities"] is None:
            assert "too few people" in texts[1]
        else:
            figures = [number(text) for text in texts[1:]]
            assert figures == [
                row["identities"],
                row["sessions"],
                row["tool_count_median"],
                row["tokens_saved_median"],
            ]
    assert shown[WEEK.name][0] == "released"
    page.close()


def test_versions_and_refs_shown_are_the_releases_and_an_undeclared_rare_ref_is_not(
    browser: Browser, served: Served
) -> None:
    versions = public_json(served, f"/v1/stats/versions?week={WEEK.name}")["rows"]
    refs = public_json(served, f"/v1/stats/refs?week={WEEK.name}")["rows"]
    page = browser.open(f"/stats/?week={WEEK.name}").page
    text = page.content()
    for table, rows, key in (("#versions", versions, "version"), ("#refs", refs, "ref")):
        if not rows:
            continue
        found = page.locator(f"{table} tbody tr")
        listed = [cells(found.nth(i)) for i in range(found.count())]
        assert listed == [[row[key], f"{row['identities']:,}"] for row in rows]
    assert "secret:only-one-person" not in text
    page.close()


def test_a_malformed_week_is_refused_without_echo(served: Served) -> None:
    status, headers, body = served.request("GET", "/stats/?week=%3Cb%3Ehi")
    assert status == 400
    assert headers["Content-Type"].startswith("text/html")
    assert b"<b>hi" not in body and b"&lt;b&gt;hi" not in body


def test_names_are_escaped_by_the_template() -> None:
    from session_events.viewer.public import render_public_stats

    hostile = "<img src=x onerror=alert(1)>"
    html = render_public_stats(
        privacy={"unit": "identity-week", "epsilon": 1.0, "delta": 1e-7, "library": "opendp"},
        weeks=[
            {
                "week": "2026-W01",
                "released": True,
                "due": "2026-01-08",
                "identities": 12,
                "sessions": 40,
                "tool_count_median": 5,
                "tokens_saved_median": 500,
            }
        ],
        selected={
            "week": "2026-W01",
            "versions": [{"version": hostile, "identities": 12}],
            "refs": [{"ref": hostile, "identities": 11}],
        },
    )
    assert hostile not in html
    assert re.search(r"&lt;img src=x onerror=alert\(1\)&gt;", html)
