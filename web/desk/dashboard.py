"""The operators' dashboard: what the service did in the last two days (and month), as
charts drawn on the server, each with its numbers in a table.

Read from the rows in one read-only transaction (newsroom/dashboard.py), each query an
index range over a recent window; the counts of hours that are over are kept a few
minutes, since a month of sends is some 60 ms to count per 100k emails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Annotated
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from config import get_settings
from newsroom import dashboard
from newsroom.db import read_scope
from newsroom.models import utcnow
from web.desk import charts, i18n
from web.desk import session as desk
from web.desk.charts import BLUE, BROWN, RED, Series
from web.desk.render import page

router = APIRouter(prefix="/desk", include_in_schema=False)
Operator = Annotated[desk.Viewer, Depends(desk.operator)]
EVERY = 8  # an axis label every eight hours of 48, every five days of 30


@dataclass(frozen=True)
class Panel:
    """One chart and its table: ``chart`` None shows the "no data yet" line instead."""

    key: str  # the section's id and its words' prefix
    chart: Markup | None
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    empty: str = "dash.no_data"  # the words shown without a chart


@dataclass(frozen=True)
class _Words:
    language: str
    zone: ZoneInfo

    def t(self, key: str, **values: object) -> str:
        return i18n.translate(self.language, key, **values)

    def number(self, value: float) -> str:
        return format_decimal(value, format="#,##0.#", locale=self.language)

    def seconds(self, value: float | None) -> str:
        return "–" if value is None else format_decimal(value, "#,##0.0", locale=self.language)

    def share(self, value: float | None) -> str:
        return "–" if value is None else format_percent(value, "#,##0.00%", locale=self.language)

    def hour(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%H:%M")

    def when(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def day(self, at: date) -> str:
        return format_date(at, "d MMM", locale=self.language)


def _emails(words: _Words, hours: list[dashboard.EmailHour]) -> Panel:
    t = words.t
    chart = None
    if any(hour.sent or hour.failed for hour in hours):
        chart = charts.bar_chart(
            t("dash.emails.title"),
            [words.hour(hour.hour) for hour in hours],
            [Series(t("dash.sent"), [hour.sent for hour in hours], BLUE),
             Series(t("dash.failed"), [hour.failed for hour in hours], RED)],
            every=EVERY, fmt=charts.compact,
        )  # fmt: skip
    rows = [[words.when(hour.hour), words.number(hour.sent), words.number(hour.failed)]
            for hour in hours]  # fmt: skip
    return Panel("emails", chart, [t("dash.hour"), t("dash.sent"), t("dash.failed")], rows)


def _latency(words: _Words, hours: list[dashboard.LatencyHour]) -> Panel:
    t = words.t
    chart = None
    if any(hour.events for hour in hours):
        chart = charts.line_chart(
            t("dash.latency.title"),
            [words.hour(hour.hour) for hour in hours],
            [Series("p50", [hour.p50 for hour in hours], BLUE),
             Series("p99", [hour.p99 for hour in hours], RED, dashed=True)],
            every=EVERY, fmt=charts.compact,
        )  # fmt: skip
    rows = [[words.when(hour.hour), words.number(hour.events), words.seconds(hour.p50),
             words.seconds(hour.p99)] for hour in hours]  # fmt: skip
    columns = [t("dash.hour"), t("dash.events"), t("dash.p50"), t("dash.p99")]
    return Panel("latency", chart, columns, rows)


def _queues(words: _Words, now: dashboard.Queues) -> Panel:
    t = words.t
    names = [t("dash.queue.outbox"), t("dash.queue.emails"), t("dash.queue.partners")]
    counts = [now.outbox, now.emails, now.partners_due]
    chart = None
    if any(counts):
        chart = charts.row_chart(t("dash.queues.title"), list(zip(names, counts, strict=True)),
                                 colour=BROWN, fmt=words.number)  # fmt: skip
    rows = [[name, words.number(count)] for name, count in zip(names, counts, strict=True)]
    columns = [t("dash.queue"), t("dash.waiting")]
    return Panel("queues", chart, columns, rows, empty="dash.queues.empty")


def _rates(words: _Words, days: list[dashboard.MailDay]) -> Panel:
    t = words.t
    chart = None
    if any(day.sent for day in days):
        chart = charts.line_chart(
            t("dash.rates.title"),
            [words.day(day.day) for day in days],
            [Series(t("dash.bounce_rate"), [day.bounce_rate for day in days], RED),
             Series(t("dash.complaint_rate"), [day.complaint_rate for day in days], BLUE,
                    dashed=True)],
            every=5, fmt=partial(_percent_axis, words.language),
        )  # fmt: skip
    rows = [[day.day.isoformat(), words.number(day.sent), words.number(day.bounces),
             words.share(day.bounce_rate), words.number(day.complaints),
             words.share(day.complaint_rate)] for day in days]  # fmt: skip
    columns = [t("dash.day"), t("dash.sent"), t("dash.bounces"), t("dash.bounce_rate"),
               t("dash.complaints"), t("dash.complaint_rate")]  # fmt: skip
    return Panel("rates", chart, columns, rows)


def _percent_axis(language: str, value: float) -> str:
    return format_percent(value, "#,##0.##%", locale=language)


def _partners(words: _Words, hours: list[dashboard.PartnerHour]) -> Panel:
    t = words.t
    chart = None
    if any(hour.attempts for hour in hours):
        chart = charts.bar_chart(
            t("dash.partners.title"),
            [words.hour(hour.hour) for hour in hours],
            [Series(t("dash.failed"), [hour.failed for hour in hours], RED)],
            every=EVERY,
        )
    rows = [[words.when(hour.hour), words.number(hour.attempts), words.number(hour.failed)]
            for hour in hours]  # fmt: skip
    return Panel("partners", chart, [t("dash.hour"), t("dash.attempts"), t("dash.failed")], rows)


@router.get("/dashboard")
def dashboard_page(request: Request, viewer: Operator) -> Response:
    settings = get_settings()
    zone = ZoneInfo(settings.time_zone)
    now = utcnow()
    with read_scope() as session:
        queues = dashboard.queues(session, now)
        days = dashboard.mail_days(session, now, zone)  # first: the month it keeps serves both
        emails = dashboard.emails(session, now)
        latency = dashboard.latency(session, now)
        partners = dashboard.partner_failures(session, now)
    words = _Words(viewer.language, zone)
    panels = [_queues(words, queues), _emails(words, emails), _latency(words, latency),
              _rates(words, days), _partners(words, partners)]  # fmt: skip
    return page(request, "dashboard.html", viewer, panels=panels, zone=settings.time_zone,
                now=words.when(now))  # fmt: skip
