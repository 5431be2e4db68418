"""The operators' dashboard: the right numbers from real rows (read back from its tables),
p50 and p99, the newsroom's time zone, "no data yet" on an empty database, escaping; and
the SVG charts on their own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from config import get_settings
from newsroom import articles, dashboard
from newsroom.dashboard import hour_starts, percentile
from newsroom.db import session_scope
from newsroom.deskmodels import Role
from newsroom.models import (
    DeliveryAttempt,
    Edition,
    EditionSegment,
    EmailDelivery,
    EmailStatus,
    EventKind,
    Frequency,
    OutboxEvent,
    PartnerDelivery,
    ProcessedReport,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsroom.schemas import ArticleIn
from tests.deskdata import failing_partner
from tests.desksupport import Desk, add_user
from tests.support import Server, article
from web.desk import charts
from web.desk.charts import Series


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    # Counts of past hours are kept per process; each test's rows are new.
    dashboard.forget()
    yield
    dashboard.forget()


# Unit tests of the pieces ------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        pytest.param([7.0], 0.5, 7.0, id="one value"),
        pytest.param([4.0, 1.0, 3.0, 2.0], 0.5, 2.0, id="even count: the lower middle"),
        pytest.param([float(n) for n in range(1, 11)], 0.99, 10.0, id="p99 of ten: slowest"),
        pytest.param([float(n) for n in range(1, 201)], 0.99, 198.0, id="p99 of 200"),
        pytest.param([float(n) for n in range(1, 201)], 0.5, 100.0, id="p50 of 200"),
    ],
)
def test_percentile_is_the_nearest_rank(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected


def test_hour_starts_end_with_the_current_hour() -> None:
    now = datetime(2026, 12, 5, 17, 42, 9, tzinfo=UTC)
    starts = hour_starts(now)
    assert len(starts) == 48
    assert starts[-1] == datetime(2026, 12, 5, 17, tzinfo=UTC)
    assert starts[0] == datetime(2026, 12, 3, 18, tzinfo=UTC)


def _rect_heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', svg)]


def test_bars_are_proportional_to_their_values() -> None:
    svg = charts.bar_chart("Skickade", ["a", "b", "c", "d"], [Series("n", [10, 20, 40, 5])])
    heights = _rect_heights(svg)
    assert len(heights) == 4
    assert heights[1] == pytest.approx(2 * heights[0], rel=1e-3)
    assert heights[2] == pytest.approx(4 * heights[0], rel=1e-3)
    assert heights[3] == pytest.approx(heights[0] / 2, rel=1e-3)
    # The axis tops at a round number at or above the highest bar: 40, and 20 halfway.
    assert ">40<" in svg and ">20<" in svg and ">0<" in svg


def test_stacked_bars_add_up() -> None:
    svg = charts.bar_chart("E-brev", ["a"], [Series("sent", [30]), Series("failed", [10])])
    low, high = _rect_heights(svg)
    assert low == pytest.approx(3 * high, rel=1e-3)


@pytest.mark.parametrize(
    ("values", "bars"),
    [
        pytest.param([0, 0, 0], 0, id="all zero: no bars, still an axis"),
        pytest.param([1], 1, id="one value"),
        pytest.param([0, 1, 0], 1, id="one among zeros"),
        pytest.param([-5, 3], 1, id="a negative is drawn as nothing"),
        pytest.param([float("nan"), float("inf"), 2], 1, id="not numbers are gaps"),
    ],
)
def test_zero_one_and_bad_values(values: list[float], bars: int) -> None:
    svg = charts.bar_chart("Kö", [str(i) for i in range(len(values))], [Series("n", values)])
    assert len(_rect_heights(svg)) == bars
    assert all(height >= 0 for height in _rect_heights(svg))
    assert 'role="img"' in svg and "<title>Kö</title>" in svg


def test_huge_values_stay_inside_the_frame_with_short_axis_labels() -> None:
    svg = charts.bar_chart("Stort", ["a", "b"], [Series("n", [3_400_000_000, 1])])
    heights = _rect_heights(svg)
    assert max(heights) <= charts.HEIGHT - charts.TOP - charts.BOTTOM + 0.01
    assert ">4G<" in svg and ">2G<" in svg
    for y in re.findall(r'<rect [^>]*y="([0-9.]+)"', svg):
        assert float(y) >= charts.TOP - 0.01


@pytest.mark.parametrize(
    ("highest", "whole", "top"),
    [(0, True, 2), (1, True, 2), (3, True, 4), (5, True, 6), (9, True, 10), (11, True, 20),
     (170, True, 200), (0, False, 1), (0.003, False, 0.005), (7.5, False, 10), (11, False, 20)],
)  # fmt: skip
def test_the_axis_tops_at_a_round_number(highest: float, whole: bool, top: float) -> None:
    assert charts.nice_top(highest, whole) == pytest.approx(top)


def test_row_chart_bars_are_proportional_with_long_labels() -> None:
    svg = charts.row_chart("Väntar", [("Publiceringar som inte förts vidare", 3),
                                      ("E-brev i kö", 0), ("Partnerleveranser", 6)])  # fmt: skip
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)]
    assert widths[2] == pytest.approx(2 * widths[0], rel=1e-3)
    assert widths[1] <= 2, "a zero is a sliver, not nothing"
    assert ">Publiceringar som inte förts vidare<" in svg and ">6<" in svg


def test_every_text_is_escaped() -> None:
    hostile = '<script>alert("å ä ö")</script> & Malmö'
    svg = str(charts.line_chart(hostile, [hostile, "två"],
                                [Series(hostile, [1, 2]), Series("p99", [None, 3])]))  # fmt: skip
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&quot;å ä ö&quot;)&lt;/script&gt; &amp; Malmö" in svg
    assert f'aria-label="{escape(hostile)}"' in svg
    assert ">två<" in svg


def test_a_line_breaks_where_there_is_no_value() -> None:
    svg = charts.line_chart("Fördröjning", list("abcde"), [Series("p50", [1, 2, None, 4, 5])])
    assert svg.count("<polyline") == 2
    assert svg.count("<circle") == 4
    lone = charts.line_chart("Ensam", list("abc"), [Series("p50", [None, 4, None])])
    assert lone.count("<polyline") == 0 and lone.count("<circle") == 1


def test_dashed_series_differ_by_more_than_colour() -> None:
    svg = charts.line_chart("x", ["a", "b"], [Series("p50", [1, 2]),
                                              Series("p99", [2, 3], dashed=True)])  # fmt: skip
    assert svg.count('stroke-dasharray="6 4"') == 2  # the line and its legend
    assert "style" not in svg  # the CSP forbids inline styles


# The page, with real rows ------------------------------------------------------------


class _Tables(HTMLParser):
    """Every table of a page by id: its rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, dict[str, list[str]]]:
    """{table id: {first cell: the other cells}}, without the heading row."""
    parser = _Tables()
    parser.feed(html)
    return {name: {row[0]: row[1:] for row in rows[1:]} for name, rows in parser.tables.items()}


@pytest.fixture
def zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    name = getattr(request, "param", "Europe/Stockholm")
    monkeypatch.setenv("BUDKAVLE_TIME_ZONE", name)
    monkeypatch.setenv("BUDKAVLE_SITE_NAME", "<b>Dala & Fjäll</b>")
    get_settings.cache_clear()
    yield ZoneInfo(name)
    get_settings.cache_clear()


def operator(server: Server, language: str = "en") -> Desk:
    add_user("chef@example.se", Role.OPERATOR, "Åsa Lindqvist")
    desk = Desk(server, language)
    assert desk.sign_in("chef@example.se").status_code == 303
    return desk


def yesterday_noon(zone: ZoneInfo) -> datetime:
    """Noon yesterday where the newsroom is: 12 to 36 hours ago, inside every window, and
    an hour of the day that the time zone alone decides."""
    day = utcnow().astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(day, datetime.min.time().replace(hour=12), zone).astimezone(UTC)


def _emails(base: datetime) -> None:
    """Sent at noon: 3, at one: 1; failed at noon: 2; still queued: 2."""
    plan = [(EmailStatus.SENT, base + timedelta(minutes=5))] * 3 + [
        (EmailStatus.SENT, base + timedelta(minutes=65)),
        (EmailStatus.FAILED, base + timedelta(minutes=10)),
        (EmailStatus.FAILED, base + timedelta(minutes=50)),
        (EmailStatus.QUEUED, None),
        (EmailStatus.QUEUED, None),
    ]
    with session_scope() as session:
        edition = Edition(key="daily:Europe/Stockholm:x", frequency=Frequency.DAILY,
                          to_position=1)  # fmt: skip
        session.add(edition)
        session.flush()
        segment = EditionSegment(edition_id=edition.id, language="sv", subject="Nyheter",
                                 html="<p>Hej</p>", text="Hej")  # fmt: skip
        session.add(segment)
        session.flush()
        for number, (status, at) in enumerate(plan):
            reader = Subscriber(email=f"läsare{number}@example.se", status=SubscriberStatus.ACTIVE,
                                language="sv", frequency=Frequency.DAILY,
                                time_zone="Europe/Stockholm", consent_form="test")  # fmt: skip
            session.add(reader)
            session.flush()
            session.add(EmailDelivery(
                edition_id=edition.id, segment_id=segment.id, subscriber_id=reader.id, batch=0,
                status=status, sent_at=at if status is EmailStatus.SENT else None,
                failed_at=at if status is EmailStatus.FAILED else None,
            ))  # fmt: skip
        # A hard bounce at two and a complaint at three: of 4 sent that day, 25 % each.
        session.add(ProcessedReport(message_key="<b1@mx>", processed_at=base + timedelta(hours=2),
                                    bounces=1))  # fmt: skip
        session.add(ProcessedReport(message_key="<c1@mx>", processed_at=base + timedelta(hours=3),
                                    complaints=1))  # fmt: skip
        # Long ago: outside every window.
        session.add(ProcessedReport(message_key="<old@mx>", bounces=9,
                                    processed_at=base - timedelta(days=40)))  # fmt: skip


def _events(base: datetime, partner_id: int) -> None:
    """At 12:30 ten changes reached the feed after 1..10 s; at 13:30, 200 after 1..200 s."""
    with session_scope() as session:
        data = ArticleIn.model_validate(article(title="Älvdalens nya bro – öppnad"))
        found, _ = articles.create_or_update(session, data, utcnow(), timedelta(seconds=1))
        plan = [(base + timedelta(minutes=30), s) for s in range(1, 11)]
        plan += [(base + timedelta(minutes=90), s) for s in range(1, 201)]
        events = []
        for reached, seconds in plan:
            event = OutboxEvent(kind=EventKind.UPDATED, article_id=found.id, version=1,
                                payload={}, created_at=reached - timedelta(seconds=seconds),
                                next_ring_at=reached, started_at=reached,
                                handled_at=reached + timedelta(seconds=2))  # fmt: skip
            session.add(event)
            events.append(event)
        session.flush()
        # Two deliveries due now, one due tomorrow: the queue counts two.
        for number, due in enumerate((-60, -1, 86400)):
            when = utcnow() + timedelta(seconds=due)
            session.add(PartnerDelivery(event_id=events[number].id, partner_id=partner_id,
                                        article_id=found.id, webhook_id=f"msg_due{number}",
                                        next_attempt_at=when))  # fmt: skip
        # At noon: a success beside failing_partner's 503s.
        delivery = session.scalars(select(PartnerDelivery.id)).first()
        session.add(DeliveryAttempt(delivery_id=delivery, status_code=200, duration_ms=80,
                                    attempted_at=base + timedelta(minutes=15)))  # fmt: skip
        session.add(DeliveryAttempt(delivery_id=delivery, status_code=None, duration_ms=10000,
                                    error="timeout",
                                    attempted_at=base + timedelta(minutes=16)))  # fmt: skip


@pytest.mark.parametrize("zone", ["Europe/Stockholm", "Pacific/Kiritimati"], indirect=True)
def test_the_dashboard_shows_the_numbers_of_the_rows(server: Server, zone: ZoneInfo) -> None:
    base = yesterday_noon(zone)
    day = base.astimezone(zone).date().isoformat()
    partner_id, _ = failing_partner()  # three 503s: 26, 20 and 2 hours ago
    _emails(base)
    _events(base, partner_id)
    answer = operator(server).get("/desk/dashboard")
    assert answer.status_code == 200
    html = answer.text
    found = tables(html)

    noon, one = f"{day} 12:00", f"{day} 13:00"
    assert found["emails-table"][noon] == ["3", "2"]
    assert found["emails-table"][one] == ["1", "0"]
    assert sum(int(row[0]) for row in found["emails-table"].values()) == 4
    assert len(found["emails-table"]) == 48

    assert found["latency-table"][noon] == ["10", "5.0", "10.0"]
    assert found["latency-table"][one] == ["200", "100.0", "198.0"]

    assert found["queues-table"] == {
        # The events of the two articles' own publishes, which no worker handled here.
        "Publishes not yet passed on": ["2"],
        "Emails queued": ["2"],
        "Partner deliveries due": ["2"],
    }

    assert found["rates-table"][day] == ["4", "1", "25.00%", "1", "25.00%"]
    assert len(found["rates-table"]) == 30
    assert sum(int(row[1]) for row in found["rates-table"].values()) == 1, "not the old one"

    # failing_partner's 503s 26, 20 and 2 hours ago, and at noon a 200 and a timeout.
    attempts = [(utcnow() - timedelta(hours=hours), True) for hours in (26, 20, 2)]
    attempts += [(base + timedelta(minutes=15), False), (base + timedelta(minutes=16), True)]
    expected: dict[str, list[int]] = {}
    for at, failed in attempts:
        row = expected.setdefault(at.astimezone(zone).strftime("%Y-%m-%d %H:00"), [0, 0])
        row[0] += 1
        row[1] += failed
    partners = {hour: row for hour, row in found["partners-table"].items() if row != ["0", "0"]}
    assert partners == {hour: [str(n) for n in row] for hour, row in expected.items()}

    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 5
    assert "No data yet." not in html
    assert zone.key in html
    assert "&lt;b&gt;Dala &amp; Fjäll&lt;/b&gt;" in html and "<b>Dala" not in html


@pytest.mark.parametrize(
    ("language", "empty", "nothing_waits", "title"),
    [("en", "No data yet.", "Nothing waits.", "Dashboard"),
     ("sv", "Inga uppgifter ännu.", "Inget väntar.", "Driftläge")],
)  # fmt: skip
def test_an_empty_database_says_no_data_yet(
    server: Server, zone: ZoneInfo, language: str, empty: str, nothing_waits: str, title: str
) -> None:
    html = operator(server, language).get("/desk/dashboard").text
    assert html.count(empty) == 4
    assert html.count(nothing_waits) == 1
    assert "<svg" not in html and "<table" not in html
    assert f"<h1>{title}</h1>" in html
    assert f'href="/desk/dashboard" aria-current="page">{title}</a>' in html


def test_only_operators_see_the_link(server: Server) -> None:
    add_user("redaktor@example.se", Role.EDITOR, "Erik Redaktör")
    editor = Desk(server)
    editor.sign_in("redaktor@example.se")
    assert "/desk/dashboard" not in editor.get("/desk").text
    assert editor.get("/desk/dashboard").status_code == 403
    assert 'href="/desk/dashboard"' in operator(server).get("/desk").text


def test_hours_that_are_over_are_counted_once_and_the_current_one_each_time(
    db: str, zone: ZoneInfo
) -> None:
    base = yesterday_noon(zone)
    _emails(base)  # 3 sent at noon, 1 at one
    now = utcnow()

    def sent() -> dict[datetime, int]:
        with session_scope() as session:
            return {row.hour: row.sent for row in dashboard.emails(session, now) if row.sent}

    assert sent() == {base: 3, base + timedelta(hours=1): 1}
    with session_scope() as session:
        session.execute(update(EmailDelivery).where(EmailDelivery.sent_at.is_not(None))
                        .values(sent_at=now))  # fmt: skip
    # The past hours are kept (a row's sent_at never moves in life); this hour is fresh.
    current = now.replace(minute=0, second=0, microsecond=0)
    assert sent() == {base: 3, base + timedelta(hours=1): 1, current: 4}
    dashboard.forget()
    assert sent() == {current: 4}
