"""The dashboard in Debian's Chromium: axe-core in Swedish and English with a month of
lively rows, and screenshots at 1200 and 390 px (var/screenshots/, not committed) with
nothing scrolling sideways on a phone."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import insert

from newsroom import articles, dashboard
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
from tests.axe import assert_accessible
from tests.deskdata import failing_partner
from tests.desksupport import PASSWORD, add_user
from tests.support import Server, article
from tests.test_desk_browser import shoot
from tests.test_subscribe_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
READERS = 80


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def lively_month() -> None:
    """A month of digests at seven, two days of hourly sends, changes reaching the feed
    in seconds (slower in the evening), a few bounces and a partner that had a bad night."""
    now = utcnow()
    with session_scope() as session:
        readers = [
            Subscriber(email=f"läsare{n}@example.se", status=SubscriberStatus.ACTIVE,
                       language="sv", frequency=Frequency.DAILY, time_zone="Europe/Stockholm",
                       consent_form="test")
            for n in range(READERS)
        ]  # fmt: skip
        session.add_all(readers)
        sends: list[tuple[object, int]] = []  # (sent at, how many readers)
        for day in range(30):
            sends.append((now - timedelta(days=day, hours=3), READERS))
        for hour in range(48):
            sends.append((now - timedelta(hours=hour, minutes=20),
                          int(30 + 25 * math.sin(hour / 4))))  # fmt: skip
        rows = []
        for number, (at, count) in enumerate(sends):
            edition = Edition(key=f"daily:x:{number}", frequency=Frequency.DAILY, to_position=1)
            session.add(edition)
            session.flush()
            segment = EditionSegment(edition_id=edition.id, language="sv", subject="Nyheter",
                                     html="<p>Hej</p>", text="Hej")  # fmt: skip
            session.add(segment)
            session.flush()
            for index, reader in enumerate(readers[:count]):
                failed = index % 23 == 0
                rows.append({
                    "edition_id": edition.id, "segment_id": segment.id,
                    "subscriber_id": reader.id, "batch": 0,
                    "status": EmailStatus.FAILED if failed else EmailStatus.SENT,
                    "sent_at": None if failed else at, "failed_at": at if failed else None,
                })  # fmt: skip
        session.execute(insert(EmailDelivery), rows)
        for day in range(0, 30, 3):
            at = now - timedelta(days=day, hours=2)
            session.add(ProcessedReport(message_key=f"<b{day}@mx>", bounces=1 + day % 2,
                                        complaints=int(day % 9 == 0), processed_at=at))  # fmt: skip
        data = ArticleIn.model_validate(article(title="Älvdalens nya bro – öppnad"))
        found, _ = articles.create_or_update(session, data, now, timedelta(seconds=1))
        for hour in range(0, 48, 2):
            reached = now - timedelta(hours=hour, minutes=10)
            for n in range(8):
                wait = 0.4 + n * 0.3 + (hour % 12) * 0.5
                session.add(OutboxEvent(kind=EventKind.UPDATED, article_id=found.id, version=1,
                                        payload={}, created_at=reached - timedelta(seconds=wait),
                                        next_ring_at=reached, started_at=reached,
                                        handled_at=reached))  # fmt: skip
        session.flush()
        partner_delivery = session.query(PartnerDelivery.id).first()
        assert partner_delivery is not None
        for hour in range(5, 12):
            for n in range(hour % 4 + 1):
                session.add(DeliveryAttempt(delivery_id=partner_delivery[0], status_code=503,
                                            attempted_at=now - timedelta(hours=hour, minutes=n),
                                            error="HTTP 503", duration_ms=90))  # fmt: skip


@pytest.mark.parametrize("locale", ["sv-SE", "en-GB"])
def test_the_dashboard_passes_axe_and_fits_a_phone(
    server: Server, browser: Browser, locale: str, database: str
) -> None:
    dashboard.forget()  # counts of past hours kept by an earlier test's page
    failing_partner()
    lively_month()
    add_user("asa.lindqvist@example.se", Role.OPERATOR, "Åsa Lindqvist")
    context = browser.new_context(locale=locale)  # JavaScript on: axe is a script
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/desk/login?next=/desk/dashboard")
        page.locator("input[name=login]").fill("asa.lindqvist@example.se")
        page.locator("input[type=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        heading = "Driftläge" if locale == "sv-SE" else "Dashboard"
        expect(page.locator("h1")).to_have_text(heading)
        assert page.locator("svg.chart").count() == 5
        assert_accessible(page)
        shoot(page, f"dashboard-{locale[:2]}", database)
        for details in page.locator("details").all():
            details.locator("summary").click()
        assert_accessible(page)  # and with every table open
        shoot(page, f"dashboard-{locale[:2]}-open", database)
    finally:
        context.close()
