"""The viewer's pages: escaping, no script, no outside request, and what each figure shows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from session_events.viewer.pages import render_dashboard, render_session

HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "</title><style>body{display:none}</style>",
    "javascript:alert(1)",
    "https://evil.example/x.png",
)
ALLOWED_TAGS = {
    "html", "head", "meta", "link", "title", "style", "body", "header", "div", "a", "small",
    "span", "main", "h1", "h2", "p", "section", "svg", "desc", "defs", "pattern", "rect",
    "line", "g", "text", "circle", "details", "summary", "table", "thead", "tbody", "tr",
    "th", "td", "code", "dl", "dt", "dd", "nav",
}  # fmt: skip


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def iter(self) -> list[Element]:
        found = [self]
        for child in self.children:
            found.extend(child.iter())
        return found

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            element
            for element in self.iter()
            if element.tag == tag
            and all(
                element.attrs.get(name.rstrip("_").replace("_", "-")) == value
                for name, value in attrs.items()
            )
        ]

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


VOID = {"meta", "link", "br", "img", "input", "hr"}


class TreeBuilder(HTMLParser):
    """A small DOM from the page; it records every tag and attribute the browser would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Element("#text", {}, text=data))


def parse(page: str) -> Element:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    return builder.root


# -- rows ----------------------------------------------------------------------------------


def hexhash(n: int) -> str:
    return f"{n:064x}"


def session(n: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "session_id_hash": hexhash(n),
        "identity": "id-k7m2q",
        "github": "gh-4tz8w",
        "ended_at": f"2026-11-{10 + n % 18:02d}T12:00:00.000Z",
        "tool_count": 10 + n,
        "tokens_saved": 1000 * n,
        "branch_sha": "3f9c2ab71e04",
        "discovery_refs": ["skill:grep"],
    }
    row.update(changes)
    return row


def daily_rows() -> list[dict[str, Any]]:
    return [
        {"day": "2026-11-20", "identities": 40, "sessions": 120, "computed": True},
        {"day": "2026-11-21", "identities": None, "sessions": None, "computed": False},
        {"day": "2026-11-22", "identities": 25, "sessions": 60, "computed": True},
        {"day": "2026-11-23", "identities": 0, "sessions": 0, "computed": True},
    ]


def dashboard(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "k": 10,
        "daily": daily_rows(),
        "versions": [
            {
                "version": "1.4.0",
                "identities": 48,
                "sessions": 410,
                "tool_count": {"p50": 35, "p90": 120},
                "tokens_saved": {"p50": 9800, "p90": 41000},
                "suppressed": False,
            },
            {
                "version": "1.3.1",
                "identities": None,
                "sessions": None,
                "tool_count": {"p50": None, "p90": None},
                "tokens_saved": {"p50": None, "p90": None},
                "suppressed": True,
            },
        ],
        "refs": [
            {
                "ref": "skill:grep",
                "identities": 40,
                "sessions": 300,
                "first_seen_day": "2026-11-01",
                "last_seen_day": "2026-11-28",
            }
        ],
        "sessions": [session(1), session(2, github=None)],
        "total_count_in_window": 2,
        "logged_in": None,
        "days": 7,
        "next_cursor": None,
    }
    arguments.update(changes)
    return render_dashboard(**arguments)


def session_page(tool_counts: list[int] | None = None, **changes: Any) -> str:
    counts = tool_counts if tool_counts is not None else [3, 30]
    related = [
        session(100 + index, tool_count=count, ended_at=f"2026-11-{2 + index:02d}T08:00:00.000Z")
        for index, count in enumerate(counts)
    ]
    return render_session(
        session=session(1, **{"ended_at": "2026-11-28T12:00:00.000Z", **changes}), related=related
    )


def hostile_dashboard(value: str) -> str:
    hostile_session = session(
        1,
        identity=value,
        github=value,
        ended_at=value,
        branch_sha=value,
        discovery_refs=[value, "skill:grep"],
        session_id_hash=value,
        tool_count=value,
        tokens_saved=value,
    )
    return dashboard(
        daily=[
            {"day": value, "identities": value, "sessions": value, "suppressed": False},
            {"day": value, "identities": None, "sessions": None, "suppressed": True},
        ],
        versions=[
            {
                "version": value,
                "identities": value,
                "sessions": value,
                "tool_count": {"p50": value, "p90": value},
                "tokens_saved": value,
                "suppressed": False,
            }
        ],
        refs=[
            {
                "ref": value,
                "identities": value,
                "sessions": value,
                "first_seen_day": value,
                "last_seen_day": value,
            }
        ],
        sessions=[hostile_session],
        next_cursor=value,
    )


def hostile_session_page(value: str) -> str:
    def row(n: int) -> dict[str, Any]:
        return session(
            n,
            identity=value,
            github=value,
            branch_sha=value,
            discovery_refs=[value],
            session_id_hash=value + str(n),
            tokens_saved=value,
        )

    return render_session(session=row(1), related=[row(2), {**row(3), "ended_at": value}])


def assert_no_markup_from(page: str, value: str) -> None:
    tree = parse(page)
    unexpected = {element.tag for element in tree.iter()} - ALLOWED_TAGS - {"#root", "#text"}
    assert unexpected == set()
    for element in tree.iter():
        assert not any(name.startswith("on") for name in element.attrs)
        assert "src" not in element.attrs
    if any(mark in value for mark in "<>\"'"):
        assert value not in page


# -- escaping ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_on_the_dashboard_stay_text(value: str) -> None:
    page = hostile_dashboard(value)
    assert_no_markup_from(page, value)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_on_the_session_page_stay_text(value: str) -> None:
    page = hostile_session_page(value)
    assert_no_markup_from(page, value)


def test_hostile_text_is_shown_escaped_not_dropped() -> None:
    page = hostile_dashboard(HOSTILE[0])
    identities = [
        cell.all_text() for cell in parse(page).find_all("td") if cell.has_class("identity")
    ]
    assert identities == [HOSTILE[0]]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_hostile_session_hash_cannot_leave_its_path() -> None:
    page = dashboard(sessions=[session(1, session_id_hash="../../x?y=1#z", identity="../y")])
    links = {a.attrs["href"] for a in parse(page).find_all("a")}
    assert "/admin/identities/..%2Fy/sessions/..%2F..%2Fx%3Fy%3D1%23z/view" in links
    assert not any("/../" in link or "?y=1" in link for link in links)


def test_hostile_ref_stays_inside_its_anchor() -> None:
    value = '"><img src=x>'
    page = dashboard(refs=[{"ref": value, "identities": 12, "sessions": 20}])
    rows = [row for row in parse(page).find_all("tr") if row.attrs.get("id", "").startswith("ref-")]
    assert [row.attrs["id"] for row in rows] == ["ref-" + value]


# -- no script, no outside request ---------------------------------------------------------


@pytest.mark.parametrize("value", [*HOSTILE, "plain"])
def test_no_page_carries_a_script(value: str) -> None:
    for page in (
        hostile_dashboard(value),
        hostile_session_page(value),
        dashboard(),
        session_page(),
    ):
        assert "<script" not in page.lower()


@pytest.mark.parametrize("value", [value for value in HOSTILE if "://" not in value])
def test_no_page_refers_to_another_host(value: str) -> None:
    for page in (
        hostile_dashboard(value),
        hostile_session_page(value),
        dashboard(),
        session_page(),
    ):
        assert "http://" not in page
        assert "https://" not in page


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_never_become_a_link_target(value: str) -> None:
    for page in (hostile_dashboard(value), hostile_session_page(value)):
        for element in parse(page).iter():
            for name in ("href", "src", "action", "xlink:href"):
                target = element.attrs.get(name)
                if target is not None:
                    assert target.startswith(("/admin/", "#", "data:,")), target


@pytest.mark.parametrize("page", [dashboard(), session_page()], ids=["dashboard", "session"])
def test_every_link_stays_on_the_server(page: str) -> None:
    tree = parse(page)
    for element in tree.iter():
        for name in ("href", "src", "action", "xlink:href"):
            target = element.attrs.get(name)
            if target is None:
                continue
            assert target.startswith(("/", "#", "data:,")), target
            assert not target.startswith("//"), target


@pytest.mark.parametrize("page", [dashboard(), session_page()], ids=["dashboard", "session"])
def test_styles_load_nothing(page: str) -> None:
    styles = "".join(element.all_text() for element in parse(page).find_all("style"))
    assert "url(" not in styles
    assert "@import" not in styles
    assert "@font-face" not in styles


# -- the daily chart -----------------------------------------------------------------------


def daily_groups(page: str) -> dict[str, Element]:
    return {g.attrs["data-day"]: g for g in parse(page).find_all("g") if g.has_class("day")}


def test_day_not_computed_is_an_outline_that_says_so() -> None:
    pending = daily_groups(dashboard())["2026-11-21"]
    assert pending.has_class("not-computed")
    rects = pending.find_all("rect")
    assert [(rect.attrs["fill"], rect.has_class("pending")) for rect in rects] == [("none", True)]
    assert float(rects[0].attrs["height"]) > 0
    assert "not computed yet" in pending.find_all("title")[0].all_text()


def test_day_without_a_session_is_drawn_as_zero_not_as_missing() -> None:
    zero = daily_groups(dashboard())["2026-11-23"]
    assert not zero.has_class("not-computed")
    assert [float(rect.attrs["height"]) for rect in zero.find_all("rect")] == [0.0, 0.0]
    assert zero.find_all("title")[0].all_text() == "2026-11-23: 0 identities, 0 sessions"
    assert [text.all_text() for text in zero.find_all("text")] == ["0"]


def test_the_operator_chart_hatches_nothing() -> None:
    """Exact numbers for the operator: a small day is drawn as it is, never masked."""
    daily = [
        {"day": "2026-11-21", "identities": 3, "sessions": 7, "suppressed": True},
        {"day": "2026-11-22", "identities": 30, "sessions": 70, "computed": True},
    ]
    page = dashboard(daily=daily)
    small = daily_groups(page)["2026-11-21"]
    assert small.find_all("title")[0].all_text() == "2026-11-21: 3 identities, 7 sessions"
    assert [rect.attrs["fill"] for rect in small.find_all("rect")] == ["#3730a3", "#a5b4fc"]
    assert "hatch" not in page and "pattern" not in page
    assert not [g for g in parse(page).find_all("g") if g.has_class("suppressed")]


def test_published_day_is_drawn_as_two_plain_bars() -> None:
    published = daily_groups(dashboard())["2026-11-20"]
    assert not published.has_class("suppressed")
    fills = [rect.attrs["fill"] for rect in published.find_all("rect")]
    assert len(fills) == 2
    assert "url(#hatch)" not in fills
    assert published.find_all("title")[0].all_text() == "2026-11-20: 40 identities, 120 sessions"


def test_published_bars_are_taller_for_larger_counts() -> None:
    groups = daily_groups(dashboard())

    def height(day: str, series: str) -> float:
        rect = next(r for r in groups[day].find_all("rect") if r.has_class(series))
        return float(rect.attrs["height"])

    assert height("2026-11-20", "identities") > height("2026-11-22", "identities") > 0
    assert height("2026-11-20", "sessions") > height("2026-11-20", "identities")


def test_chart_legend_names_the_not_computed_outline() -> None:
    legend = next(div for div in parse(dashboard()).find_all("div") if div.has_class("legend"))
    assert "Not computed yet" in legend.all_text()
    assert "suppressed" not in legend.all_text().lower()


def test_daily_table_marks_days_not_computed_in_words_and_zero_as_zero() -> None:
    table = parse(dashboard()).find_all("table", class_="daily")[0]
    cells = {
        row.attrs["data-day"]: [cell.all_text() for cell in row.find_all("td")[1:]]
        for row in table.find_all("tr")
        if "data-day" in row.attrs
    }
    assert cells == {
        "2026-11-20": ["40", "120", ""],
        "2026-11-21": ["—", "—", "not computed yet"],
        "2026-11-22": ["25", "60", ""],
        "2026-11-23": ["0", "0", ""],
    }


def test_empty_rollups_say_how_to_fill_them() -> None:
    page = dashboard(daily=[], versions=[], refs=[], sessions=[], total_count_in_window=0)
    assert "make rollup" in page
    assert "No sessions in this window." in page


# -- tables and the session list -----------------------------------------------------------


def test_suppressed_version_shows_no_numbers() -> None:
    rows = parse(dashboard()).find_all("table", class_="versions")[0].find_all("tr")
    suppressed = next(row for row in rows if row.has_class("suppressed"))
    assert suppressed.all_text() == "1.3.1fewer than K = 10 identities"


def test_each_ref_row_has_its_anchor() -> None:
    rows = parse(dashboard()).find_all("table", class_="refs")[0].find_all("tr")
    assert [row.attrs.get("id") for row in rows[1:]] == ["ref-skill:grep"]


def test_each_session_links_to_its_own_event() -> None:
    """Two identities that sent the same session hash: each row opens its own page."""
    shared = hexhash(7)
    tree = parse(dashboard(sessions=[session(7, identity="u-a"), session(7, identity="u-b")]))
    rows = [row for row in tree.find_all("tr") if "data-session" in row.attrs]
    assert [row.attrs["data-session"] for row in rows] == [shared, shared]
    targets = []
    for row in rows:
        identity = next(td for td in row.find_all("td") if td.has_class("identity")).all_text()
        hrefs = {
            a.attrs["href"] for a in row.find_all("a") if "chip" not in a.attrs.get("class", "")
        }
        assert hrefs == {f"/admin/identities/{identity}/sessions/{shared}/view"}
        targets.extend(hrefs)
    assert len(set(targets)) == 2


def test_anonymous_session_says_so() -> None:
    tree = parse(dashboard())
    github = [cell.all_text() for cell in tree.find_all("td") if cell.has_class("github")]
    assert github == ["gh-4tz8w", "anonymous"]


def test_session_refs_at_k_link_to_their_rows_and_others_do_not() -> None:
    page = dashboard(sessions=[session(1, discovery_refs=["skill:grep", "rare:one"])])
    row = next(r for r in parse(page).find_all("tr") if "data-session" in r.attrs)
    linked = [a.attrs["href"] for a in row.find_all("a") if a.has_class("chip")]
    plain = [span.all_text() for span in row.find_all("span") if span.has_class("chip")]
    assert linked == ["/admin/#ref-skill:grep"]
    assert plain == ["rare:one"]


def segment(tree: Element, label: str) -> dict[str, tuple[str, bool]]:
    """The links of a segmented control: text -> (href, marked current)."""
    (nav,) = tree.find_all("nav", aria_label=label)
    return {a.all_text(): (a.attrs["href"], "aria-current" in a.attrs) for a in nav.find_all("a")}


def query(href: str) -> dict[str, list[str]]:
    parts = urlsplit(href)
    assert parts.path == "/admin/"
    return parse_qs(parts.query)


def test_filter_links_are_all_logged_in_and_anonymous() -> None:
    links = segment(parse(dashboard(days=30)), "Show")
    assert {name: query(href) for name, (href, _) in links.items()} == {
        "All": {"days": ["30"]},
        "Logged in": {"days": ["30"], "logged_in": ["true"]},
        "Anonymous": {"days": ["30"], "logged_in": ["false"]},
    }


@pytest.mark.parametrize(
    ("logged_in", "current"), [(None, "All"), (True, "Logged in"), (False, "Anonymous")]
)
def test_current_filter_is_marked(logged_in: bool | None, current: str) -> None:
    links = segment(parse(dashboard(logged_in=logged_in)), "Show")
    assert [name for name, (_, marked) in links.items() if marked] == [current]


def test_days_selector_keeps_the_filter_and_marks_the_window() -> None:
    links = segment(parse(dashboard(days=14, logged_in=False)), "Window")
    assert [name for name, (_, marked) in links.items() if marked] == ["14 d"]
    for name, (href, _) in links.items():
        assert query(href) == {"days": [name.split()[0]], "logged_in": ["false"]}


def test_next_page_link_carries_cursor_window_and_filter() -> None:
    tree = parse(dashboard(next_cursor="eyJ0IjoxfQ==", logged_in=True, days=7))
    nexts = [a.attrs["href"] for a in tree.find_all("a") if a.attrs.get("rel") == "next"]
    assert len(nexts) == 1
    assert query(nexts[0]) == {"days": ["7"], "logged_in": ["true"], "cursor": ["eyJ0IjoxfQ=="]}


def test_last_page_has_no_next_link() -> None:
    tree = parse(dashboard(next_cursor=None))
    assert [a for a in tree.find_all("a") if a.attrs.get("rel") == "next"] == []


# -- the session page ----------------------------------------------------------------------


def strip(page: str) -> Element:
    return next(svg for svg in parse(page).find_all("svg") if svg.has_class("strip"))


def test_current_session_is_marked_once() -> None:
    figure = strip(session_page())
    current = [g for g in figure.find_all("g") if g.has_class("current")]
    assert len(current) == 1
    assert current[0].attrs["aria-current"] == "page"
    assert "This session" in current[0].all_text()
    assert len(current[0].find_all("circle")) == 2  # the dot and its ring


def test_current_session_is_not_a_link() -> None:
    figure = strip(session_page())
    links = {a.attrs["href"] for a in figure.find_all("a")}
    assert links
    assert f"/admin/identities/id-k7m2q/sessions/{hexhash(1)}/view" not in links


def test_related_sessions_link_to_their_own_pages() -> None:
    figure = strip(session_page(tool_counts=[3, 30, 7]))
    links = sorted(a.attrs["href"] for a in figure.find_all("a") if a.has_class("related"))
    assert links == sorted(
        f"/admin/identities/id-k7m2q/sessions/{hexhash(n)}/view" for n in (100, 101, 102)
    )


def test_related_circles_carry_a_tooltip() -> None:
    figure = strip(session_page(tool_counts=[3]))
    link = next(a for a in figure.find_all("a") if a.has_class("related"))
    assert link.find_all("title")[0].all_text() == (
        "2026-11-02 08:00 UTC: 3 tools, 100,000 tokens saved"
    )


def test_circle_sizes_grow_with_tool_count() -> None:
    counts = [0, 1, 5, 50, 120, 500, 4000]
    figure = strip(session_page(tool_counts=counts, tool_count=42))
    radii = {}
    for circle in figure.find_all("circle"):
        if "data-tool-count" in circle.attrs:
            radii[int(circle.attrs["data-tool-count"].replace(",", ""))] = float(circle.attrs["r"])
    ordered = [radii[count] for count in sorted(radii)]
    assert sorted(radii) == sorted([*counts, 42])
    assert all(a < b for a, b in itertools.pairwise(ordered))


def test_later_sessions_sit_further_right() -> None:
    figure = strip(session_page(tool_counts=[5, 5, 5]))
    xs = [
        float(a.find_all("circle")[0].attrs["cx"])
        for a in sorted(
            (a for a in figure.find_all("a") if a.has_class("related")),
            key=lambda a: a.attrs["href"],
        )
    ]
    current = next(g for g in figure.find_all("g") if g.has_class("current"))
    current_x = float(current.find_all("circle")[1].attrs["cx"])
    assert xs[0] < xs[1] < xs[2] < current_x


def test_session_refs_link_to_the_dashboard_rows() -> None:
    page = session_page(discovery_refs=["skill:grep", "doc:readme"])
    fields = parse(page).find_all("dl")[0]
    assert [a.attrs["href"] for a in fields.find_all("a")] == [
        "/admin/#ref-skill:grep",
        "/admin/#ref-doc:readme",
    ]


def test_session_without_a_usable_time_still_renders() -> None:
    page = session_page(ended_at="not a time")
    assert "no usable end time" in page
    assert "not a time" in page


def test_session_page_without_related_says_so() -> None:
    page = session_page(tool_counts=[])
    assert "No other session of this identity in the 30 days before." in page
    assert len([g for g in strip(page).find_all("g") if g.has_class("current")]) == 1


# -- accessibility -------------------------------------------------------------------------


def test_each_page_has_its_own_title() -> None:
    titles = [
        [t.all_text() for t in parse(page).find_all("head")[0].find_all("title")]
        for page in (dashboard(), session_page())
    ]
    assert titles == [["Dashboard · session-events"], ["Session id-k7m2q · session-events"]]


@pytest.mark.parametrize("page", [dashboard(), session_page()], ids=["dashboard", "session"])
def test_every_figure_is_titled(page: str) -> None:
    for svg in parse(page).find_all("svg"):
        if svg.attrs.get("aria-hidden") == "true":
            continue
        labelled = "aria-label" in svg.attrs or svg.find_all("title")
        assert labelled, svg.attrs
