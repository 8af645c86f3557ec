"""The operator's side where it was weak: display ids that do not collide, a session's page
that a later sender of the same session hash cannot take over, and exact daily numbers.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import AppFactory
from flask.testing import FlaskClient
from support import Backend, hexhash
from test_stats_http import JOB, JOB_TOKEN, READ_ENV, READ_TOKEN, bearer, event_body, seed
from test_viewer import parse

from session_events.core.displayid import DisplayIds

HEX = set("0123456789abcdef")


@pytest.fixture(autouse=True)
def _no_read_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in READ_ENV:
        monkeypatch.delenv(name, raising=False)


def get(client: FlaskClient, path: str, status: int = 200) -> Any:
    answer = client.get(path, headers=bearer(READ_TOKEN))
    assert answer.status_code == status, (path, answer.get_data(as_text=True)[:300])
    return answer.get_json() if answer.mimetype == "application/json" else answer.get_data(True)


# ---- display ids -------------------------------------------------------------------------------


def test_200000_identities_get_200000_display_ids() -> None:
    ids = DisplayIds(READ_TOKEN)
    shown = {ids.identity(hexhash(f"identity-{n}")) for n in range(200_000)}
    assert len(shown) == 200_000
    github = {ids.github(hexhash(f"github-{n}")) for n in range(200_000)}
    assert len(github) == 200_000


def test_a_display_id_carries_64_bits_and_no_hex_digit() -> None:
    """No character of an id is a hex digit: it can never equal a hash or a prefix of one."""
    ids = DisplayIds(READ_TOKEN)
    for n in range(20_000):
        identity = ids.identity(hexhash(f"identity-{n}"))
        github = ids.github(hexhash(f"github-{n}"))
        assert github is not None
        for shown in (identity, github):
            assert set(shown) & HEX == set()
            letters = shown.split("-", 1)[1].replace("-", "")
            assert len(letters) == 16  # 16 letters of a 16-letter alphabet: 64 bits
        assert re.fullmatch(r"u(-[g-z]{4}){4}", identity)


def test_display_ids_change_when_the_read_token_is_rotated() -> None:
    identity = hexhash("identity-1")
    assert DisplayIds("one").identity(identity) != DisplayIds("two").identity(identity)
    assert DisplayIds("one").identity(identity) == DisplayIds("one").identity(identity)


# ---- a session's page is that identity's session ----------------------------------------------

SHARED = hexhash("a session id both identities sent")
VICTIM, ATTACKER = 1, 666


def _send_victim_then_attacker(client: FlaskClient, attacker_ends: str) -> None:
    victim = event_body(VICTIM, 1, session_id_hash=SHARED, tool_count=10, tokens_saved=111)
    seed(client, [victim, event_body(VICTIM, 3), event_body(VICTIM, 9)])
    time.sleep(0.01)  # the attacker's event is received later (the store keeps milliseconds)
    days_ago = 0 if attacker_ends == "later" else 20
    attacker = event_body(
        ATTACKER, days_ago, session_id_hash=SHARED, tool_count=999, tokens_saved=999_999
    )
    seed(client, [attacker, event_body(ATTACKER, 2)])


def _by_tool_count(client: FlaskClient) -> dict[int, str]:
    listed = get(client, "/admin/sessions?days=30")["sessions"]
    return {
        row["tool_count"]: row["identity"] for row in listed if row["session_id_hash"] == SHARED
    }


@pytest.mark.parametrize("attacker_ends", ["later", "earlier"])
def test_a_later_sender_of_the_same_session_hash_never_replaces_the_victims_page(
    make_client: AppFactory, backend: Backend, attacker_ends: str
) -> None:
    client = make_client(**backend.env, SESSION_EVENTS_READ_TOKEN=READ_TOKEN)
    _send_victim_then_attacker(client, attacker_ends)
    owners = _by_tool_count(client)
    assert set(owners) == {10, 999}
    victim, attacker = owners[10], owners[999]

    detail = get(client, f"/admin/sessions/{SHARED}")
    assert (detail["session"]["identity"], detail["session"]["tool_count"]) == (victim, 10)
    assert {row["identity"] for row in detail["related"]} == {victim}
    page = get(client, f"/admin/sessions/{SHARED}/view")
    assert victim in page and attacker not in page

    for identity, tools in ((victim, 10), (attacker, 999)):
        own = get(client, f"/admin/identities/{identity}/sessions/{SHARED}")
        assert (own["session"]["identity"], own["session"]["tool_count"]) == (identity, tools)
        assert {row["identity"] for row in own["related"]} <= {identity}
        view = get(client, f"/admin/identities/{identity}/sessions/{SHARED}/view")
        assert f'Session of <span class="mono">{identity}</span>' in view


def test_each_row_of_the_list_links_to_its_own_event(
    make_client: AppFactory, backend: Backend
) -> None:
    client = make_client(**backend.env, SESSION_EVENTS_READ_TOKEN=READ_TOKEN)
    _send_victim_then_attacker(client, "later")
    rows = [
        row
        for row in parse(get(client, "/admin/?days=30")).find_all("tr")
        if row.attrs.get("data-session") == SHARED
    ]
    assert len(rows) == 2
    opened = set()
    for row in rows:
        identity = next(td for td in row.find_all("td") if td.has_class("identity")).all_text()
        tools = next(td for td in row.find_all("td") if td.has_class("tools")).all_text()
        (link,) = {a.attrs["href"] for a in row.find_all("a") if "Graph" in a.all_text()}
        this_session = parse(get(client, link)).find_all("dl")[0]
        fields = {
            dt.all_text(): dd.all_text()
            for dt, dd in zip(this_session.find_all("dt"), this_session.find_all("dd"), strict=True)
        }
        assert (fields["Identity"], fields["Tools"]) == (identity, tools)
        opened.add(link)
    assert len(opened) == 2


@pytest.mark.parametrize(
    "identity",
    [
        "u-gggg-gggg-gggg-gggg",  # well formed, but no sender of this hash
        "u-kqtm-wzrh",  # the old 32-bit form
        "u-GGGG-gggg-gggg-gggg",
        "..",
        "u-gggg-gggg-gggg-ggg0",
    ],
)
@pytest.mark.parametrize("suffix", ["", "/view"])
def test_an_identity_that_did_not_send_the_session_is_404(
    make_client: AppFactory, tmp_path: Path, identity: str, suffix: str
) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
    )
    _send_victim_then_attacker(client, "later")
    get(client, f"/admin/identities/{identity}/sessions/{SHARED}{suffix}", status=404)
    other = _by_tool_count(client)[10]
    get(client, f"/admin/identities/{other}/sessions/{hexhash('unknown')}{suffix}", status=404)


# ---- the operator's daily numbers are exact ---------------------------------------------------


def test_a_day_no_run_computed_is_null_and_a_day_without_events_is_zero(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
        SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN,
        SESSION_EVENTS_ROLLUP_DAYS="3",
    )
    # events 1 and 5 days ago; the run computes only the 3 days ending today
    seed(client, [event_body(n, 1) for n in range(3)] + [event_body(n, 5) for n in range(4)])
    assert client.post(JOB, headers=bearer(JOB_TOKEN)).status_code == 200
    rows = get(client, "/admin/rollups?kind=daily&days=6")["rows"]
    assert [(r["identities"], r["sessions"], r["computed"]) for r in rows] == [
        (None, None, False),  # 5 days ago: 4 sessions, but no run computed the day
        (None, None, False),
        (None, None, False),
        (0, 0, True),  # 2 days ago: computed, no session
        (3, 3, True),
        (0, 0, True),  # today, as the run found it
    ]
    page = parse(get(client, "/admin/?days=6"))
    groups = {g.attrs["data-day"]: g for g in page.find_all("g") if g.has_class("day")}
    assert [g.has_class("not-computed") for g in groups.values()] == [True] * 3 + [False] * 3
    assert not any(g.has_class("suppressed") for g in groups.values())


# ---- the operator's pages say what to do when they cannot open ------------------------------

PAGES = ["/admin/", f"/admin/sessions/{SHARED}/view"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_a_read_token_configured_says_how_to_set_one(
    make_client: AppFactory, tmp_path: Path, path: str
) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite", SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db")
    )
    answer = client.get(path)
    page = answer.get_data(as_text=True)
    assert (answer.status_code, answer.mimetype) == (503, "text/html")
    assert "SESSION_EVENTS_READ_TOKEN" in page
    assert "the token as the password" in page
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_opened_without_the_token_says_how_to_sign_in(
    make_client: AppFactory, tmp_path: Path, path: str
) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
    )
    for headers in ({}, bearer("wrong")):
        answer = client.get(path, headers=headers)
        page = answer.get_data(as_text=True)
        assert (answer.status_code, answer.mimetype) == (401, "text/html")
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="session-events"'
        assert "any user name and the token as the password" in page
        assert READ_TOKEN not in page and "wrong" not in page


def test_a_page_whose_store_does_not_answer_says_so_not_how_to_set_a_token(
    make_client: AppFactory, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "a-file" / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
    )
    answer = client.get("/admin/", headers=bearer(READ_TOKEN))
    page = answer.get_data(as_text=True)
    assert (answer.status_code, answer.mimetype) == (503, "text/html")
    assert "The store does not answer" in page
    assert "SESSION_EVENTS_READ_TOKEN" not in page


def test_an_unknown_session_page_is_a_404_page_that_leads_back(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db"),
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
    )
    page = get(client, f"/admin/sessions/{hexhash('nobody')}/view", status=404)
    assert '<a href="/admin/">' in page
    json_answer = client.get(f"/admin/sessions/{hexhash('nobody')}", headers=bearer(READ_TOKEN))
    assert json_answer.get_json() == {"ok": False, "error": "not_found"}
